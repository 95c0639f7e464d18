// Device strings of a VM definition ("local:vm1.qcow2,cache=none,iothread=on",
// "virtio,network=lan,queues=2"): split into the first item and ordered
// options, and joined back without losing options the forms do not show.

export function parseDev(str) {
	const parts = (str || '').split(',');
	const first = parts.shift() || '';
	const opts = [];
	for (const p of parts) {
		if (!p) continue;
		const eq = p.indexOf('=');
		opts.push(eq < 0 ? [p, ''] : [p.slice(0, eq), p.slice(eq + 1)]);
	}
	return { first, opts };
}

export function getOpt(dev, key) {
	const o = dev.opts.find(([k]) => k === key);
	return o ? o[1] : undefined;
}

/* Set (value a string), flag (value ''), or drop (value null/undefined/false) one option. */
export function setOpt(dev, key, value) {
	const i = dev.opts.findIndex(([k]) => k === key);
	if (value === null || value === undefined || value === false) {
		if (i >= 0) dev.opts.splice(i, 1);
		return;
	}
	if (i >= 0) dev.opts[i][1] = value;
	else dev.opts.push([key, value]);
}

export function formatDev(dev) {
	return [dev.first, ...dev.opts.map(([k, v]) => (v === '' ? k : `${k}=${v}`))].join(',');
}

/* on/off flags are "on", "1", "" (bare) or absent. */
export function flagOn(v) {
	return v === '' || v === 'on' || v === '1';
}
