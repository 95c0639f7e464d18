// Hardware: the definition's devices and sizes, as Proxmox's Hardware tab.
// Each row opens a small form under the table that PUTs the keys it
// changed to /api/vms/{name}/config; Add makes a disk or a network device.
import { get, put, post, path } from '../api.js';
import { h, fill, field, select, errorLine } from '../dom.js';
import { guarded, toast } from '../notify.js';
import { finished } from '../tasks.js';
import { parseDev, getOpt, setOpt, formatDev, flagOn } from './devstr.js';

const CACHE = ['none', 'writeback', 'writethrough', 'directsync', 'unsafe'];
const DISCARD = [['', 'default (ignore)'], ['unmap', 'on (unmap)'], ['ignore', 'ignore']];

export function renderHardware(root, name) {
	const table = h('tbody');
	const form = h('div', { id: 'hw-form', class: 'panel', hidden: true });
	let config = {};
	fill(root,
		h('div', { class: 'toolbar' },
			h('button', { id: 'hw-add-disk', onclick: () => editDisk(nextKey(config, 'virtio'), null) }, 'Add disk'),
			h('button', { id: 'hw-add-net', onclick: () => editNet(nextKey(config, 'net'), null) }, 'Add network device')),
		h('table', { id: 'hw-list', class: 'grid' }, h('thead', {}, h('tr', {}, h('th', {}, 'Device'), h('th', {}, 'Setting'), h('th', {}))), table),
		form);

	const load = async () => {
		try {
			config = (await get(path`/api/vms/${name}`)).config || {};
		} catch (e) {
			fill(table, h('tr', {}, h('td', { colspan: 3, class: 'form-error' }, e.message)));
			return;
		}
		fill(table, rows(config));
	};

	/* A form that PUTs what save() returns, then reloads the table. */
	const openForm = (title, controls, save) => {
		const err = errorLine('hw-error');
		const ok = h('button', { id: 'hw-save', class: 'primary', type: 'submit' }, 'Save');
		const f = h('form', {}, h('h3', {}, title), controls, err,
			h('div', { class: 'buttons' }, h('button', { type: 'button', id: 'hw-cancel', onclick: () => { form.hidden = true; } }, 'Cancel'), ok));
		f.addEventListener('submit', async (ev) => {
			ev.preventDefault();
			const r = await guarded(ok, err, async () => {
				const changes = await save();
				if (Object.keys(changes).length) await put(path`/api/vms/${name}/config`, changes);
				return true;
			});
			if (r) {
				form.hidden = true;
				toast(`${name}: ${title} saved`);
				load();
			}
		});
		fill(form, f);
		form.hidden = false;
		form.scrollIntoView({ block: 'nearest' });
	};

	const rows = (c) => {
		const out = [];
		const row = (key, label, text, edit, removable) => h('tr', { dataset: { key } },
			h('td', {}, label), h('td', { class: 'mono' }, text),
			h('td', { class: 'row-buttons' },
				edit ? h('button', { dataset: { edit: key }, onclick: edit }, 'Edit') : null,
				removable ? h('button', { dataset: { remove: key }, class: 'danger', onclick: () => removeKey(key) }, 'Detach') : null));
		out.push(row('memory', 'Memory', `${c.memory || '-'}` + (c.balloon !== undefined ? `, balloon ${c.balloon}` : ''), () => editMemory(c)));
		out.push(row('cores', 'Processors', `${c.sockets || 1} socket(s) × ${c.cores || 1} core(s), type ${c.cpu || 'default'}` +
			(c.cpulimit ? `, limit ${c.cpulimit}` : '') + (c.cpuunits ? `, units ${c.cpuunits}` : ''), () => editCPU(c)));
		out.push(row('vga', 'Display', (c.vga === 'std' ? 'Standard VGA' : 'none (serial console only)') +
			(c.keyboard ? `, keyboard ${c.keyboard}` : ''), () => editDisplay(c)));
		out.push(row('bios', 'BIOS', c.bios === 'ovmf' ? 'OVMF (UEFI)' : c.bios === 'seabios' ? 'SeaBIOS' :
			'none (direct kernel boot)', () => editBios(c)));
		for (const [k, v] of Object.entries(c)) {
			if (/^virtio\d+$/.test(k)) out.push(row(k, `Hard disk (${k})`, v, () => editDisk(k, v), true));
			else if (/^(scsi|sata|ide)\d+$/.test(k)) out.push(row(k, /(^|,)media=cdrom(,|$)/.test(v) ?
				`CD/DVD drive (${k})` : `Hard disk (${k})`, v, null, true));
			else if (/^net\d+$/.test(k)) out.push(row(k, `Network device (${k})`, v, () => editNet(k, v), true));
			else if (/^rng\d+$/.test(k)) out.push(row(k, 'VirtIO RNG', v, null, true));
		}
		return out;
	};

	const removeKey = (key) => {
		if (!confirm(`Detach ${key} from ${name}? (The volume itself stays.)`)) return;
		guarded(null, null, async () => {
			await put(path`/api/vms/${name}/config`, { [key]: null });
			load();
		});
	};

	const editMemory = (c) => {
		const mem = h('input', { id: 'hw-memory', value: c.memory || '' });
		const balloon = h('input', { id: 'hw-balloon', value: c.balloon || '' });
		openForm('Memory', [
			field('Memory', mem, 'e.g. 512M, 2G (a number alone is MiB)'),
			field('Minimum memory (balloon)', balloon, 'empty: no balloon key; 0 disables the balloon'),
		], () => changed(c, { memory: mem.value.trim(), balloon: balloon.value.trim() || null }));
	};

	/* Proxmox's vga and keyboard keys: a standard VGA has its screen in the Display tab. */
	const editDisplay = (c) => {
		const vga = select('hw-vga', [['none', 'none (serial console only)'], ['std', 'Standard VGA']], c.vga || 'none');
		const kbd = h('input', { id: 'hw-keyboard', value: c.keyboard || '', placeholder: 'en-us' });
		openForm('Display', [
			field('Graphic card', vga, 'std: a VGA whose screen the Display tab shows (noVNC)'),
			field('Keyboard layout', kbd, 'for VNC clients that send keysyms of another layout: de, fr, ...'),
		], () => changed(c, { vga: vga.value === 'none' ? null : vga.value, keyboard: kbd.value.trim() || null }));
	};

	/* Proxmox's bios key: none boots the kernel directly, the fast default. */
	const editBios = (c) => {
		const bios = select('hw-bios', [['', 'none (direct kernel boot)'], ['seabios', 'SeaBIOS'], ['ovmf', 'OVMF (UEFI)']], c.bios || '');
		openForm('BIOS', [field('Firmware', bios, 'SeaBIOS or OVMF boot the disks and CD-ROMs themselves')],
			() => changed(c, { bios: bios.value || null }));
	};

	const editCPU = (c) => {
		const sockets = h('input', { id: 'hw-sockets', type: 'number', min: 1, max: 288, value: c.sockets || 1 });
		const cores = h('input', { id: 'hw-cores', type: 'number', min: 1, max: 288, value: c.cores || 1 });
		const type = select('hw-cpu-type', [['', 'default'], ['host', 'host (all host features)'], ['baseline', 'baseline (migratable)']], c.cpu || '');
		const limit = h('input', { id: 'hw-cpulimit', value: c.cpulimit || '', placeholder: 'unlimited' });
		const units = h('input', { id: 'hw-cpuunits', type: 'number', min: 1, max: 262144, value: c.cpuunits || '', placeholder: '100' });
		openForm('Processors', [
			field('Sockets', sockets), field('Cores', cores), field('Type', type),
			field('CPU limit', limit, 'host CPUs worth of time, 0 or empty: no limit'),
			field('CPU units', units, 'weight against other VMs, 1..262144'),
		], () => changed(c, {
			sockets: sockets.value, cores: cores.value, cpu: type.value || null,
			cpulimit: limit.value.trim() || null, cpuunits: units.value.trim() || null,
		}));
	};

	const editDisk = async (key, value) => {
		const dev = parseDev(value || '');
		const cache = select('hw-disk-cache', CACHE, getOpt(dev, 'cache') || 'none');
		const discard = select('hw-disk-discard', DISCARD, getOpt(dev, 'discard') || '');
		const iothread = h('input', { type: 'checkbox', id: 'hw-disk-iothread', checked: flagOn(getOpt(dev, 'iothread')) });
		const ro = h('input', { type: 'checkbox', id: 'hw-disk-readonly', checked: flagOn(getOpt(dev, 'readonly')) });
		const ssd = h('input', { type: 'checkbox', id: 'hw-disk-ssd', disabled: true });
		const controls = [field('Bus/Device', h('input', { value: `VirtIO Block (${key})`, disabled: true }))];
		let pool, size, format, vol;
		if (value === null) {
			const pools = await get('/api/pools').catch(() => []);
			pool = select('hw-disk-pool', pools.map((p) => p.name), pools.length ? pools[0].name : '');
			size = h('input', { id: 'hw-disk-size', value: '8G' });
			format = select('hw-disk-format', ['qcow2', 'raw'], 'qcow2');
			vol = h('input', { id: 'hw-disk-volume', placeholder: `${name}-${key}.qcow2 (or an existing volume)` });
			controls.push(field('Storage', pool), field('Volume name', vol, 'a new volume unless one of that name exists'),
				field('Disk size', size), field('Format', format));
		} else {
			controls.push(field('Volume', h('input', { value: dev.first, disabled: true })));
		}
		controls.push(field('Cache', cache), field('Discard', discard),
			h('label', { class: 'check' }, iothread, ' IO thread'),
			h('label', { class: 'check' }, ro, ' Read-only'),
			h('label', { class: 'check', title: 'vmkit\'s virtio-blk has no SSD emulation flag yet' }, ssd, ' SSD emulation (not offered by vmkit)'));
		openForm(value === null ? 'Add disk' : `Hard disk ${key}`, controls, async () => {
			if (value === null) dev.first = await newVolume(pool.value, vol.value.trim() || `${name}-${key}.${format.value}`, size.value.trim(), format.value);
			setOpt(dev, 'cache', cache.value);
			setOpt(dev, 'discard', discard.value || null);
			setOpt(dev, 'iothread', iothread.checked ? 'on' : null);
			setOpt(dev, 'readonly', ro.checked ? 'on' : null);
			const s = formatDev(dev);
			return s === value ? {} : { [key]: s };
		});
	};

	const editNet = async (key, value) => {
		const dev = parseDev(value || 'virtio,user');
		const mode0 = getOpt(dev, 'network') !== undefined ? 'network' : getOpt(dev, 'bridge') !== undefined ? 'bridge' : 'user';
		const nets = await get('/api/networks').catch(() => []);
		const mode = select('hw-net-mode', [['network', 'vmkit network'], ['bridge', 'host bridge'], ['user', 'user (NAT, no tap)']], mode0);
		const network = select('hw-net-network', nets.map((n) => n.name), getOpt(dev, 'network'));
		const bridge = h('input', { id: 'hw-net-bridge', value: getOpt(dev, 'bridge') || '', placeholder: 'vmbr0' });
		const mac = h('input', { id: 'hw-net-mac', value: dev.first.startsWith('virtio=') ? dev.first.slice(7) : '', placeholder: 'auto' });
		const queues = h('input', { id: 'hw-net-queues', type: 'number', min: 1, max: 16, value: getOpt(dev, 'queues') || '' });
		const mtu = h('input', { id: 'hw-net-mtu', type: 'number', min: 68, max: 65535, value: getOpt(dev, 'mtu') || '' });
		const link = h('input', { type: 'checkbox', id: 'hw-net-linkdown', checked: flagOn(getOpt(dev, 'link_down')) });
		openForm(value === null ? 'Add network device' : `Network device ${key}`, [
			field('Model', h('input', { value: 'VirtIO (paravirtualized)', disabled: true })),
			field('Connect to', mode), field('Network', network), field('Bridge', bridge),
			field('MAC address', mac), field('Multiqueue', queues, 'queues, tap only (1..16)'), field('MTU', mtu),
			h('label', { class: 'check' }, link, ' Disconnect (link down)'),
		], () => {
			dev.first = mac.value.trim() ? 'virtio=' + mac.value.trim() : 'virtio';
			for (const k of ['network', 'bridge', 'user']) setOpt(dev, k, null);
			if (mode.value === 'network') setOpt(dev, 'network', network.value);
			else if (mode.value === 'bridge') setOpt(dev, 'bridge', bridge.value.trim());
			else setOpt(dev, 'user', '');
			setOpt(dev, 'queues', mode.value !== 'user' && queues.value ? queues.value : null);
			setOpt(dev, 'mtu', mtu.value || null);
			setOpt(dev, 'link_down', link.checked ? 'on' : null);
			const s = formatDev(dev);
			return s === value ? {} : { [key]: s };
		});
	};

	load();
	return {};
}

/* Only the keys whose value differs from the definition; null deletes. */
function changed(config, wanted) {
	const out = {};
	for (const [k, v] of Object.entries(wanted)) {
		const cur = config[k] === undefined ? null : String(config[k]);
		if (v === '' || v === null) {
			if (cur !== null) out[k] = null;
		} else if (String(v) !== cur) out[k] = String(v);
	}
	return out;
}

function nextKey(config, prefix) {
	for (let i = 0; ; i++) if (!(prefix + i in config)) return prefix + i;
}

/* POOL:VOLUME of an existing volume, or of a new one made and waited for. */
async function newVolume(pool, vol, size, format) {
	const vols = await get(path`/api/pools/${pool}/volumes`);
	if (!vols.some((v) => v.name === vol)) {
		const id = await post(path`/api/pools/${pool}/volumes`, { name: vol, size, format, backing: null });
		if (typeof id === 'string') await finished(id, `volume ${pool}:${vol}: create`);
	}
	return `${pool}:${vol}`;
}
