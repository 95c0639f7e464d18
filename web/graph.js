// Live figures: a short in-memory history per VM (and the host), drawn as
// inline-SVG sparklines. Nothing is stored on the server: the graphs start
// when the page does, as a top(1) would.

const SVG = 'http://www.w3.org/2000/svg';
const KEEP = 90;	/* samples: at a 2.5 s poll, almost four minutes */

const series = new Map();	/* key -> [{t, v}] */

export function record(key, value) {
	if (value === null || value === undefined || isNaN(value)) value = null;
	let s = series.get(key);
	if (!s) series.set(key, (s = []));
	s.push({ t: Date.now(), v: value });
	if (s.length > KEEP) s.shift();
}

export function history(key) {
	return series.get(key) || [];
}

/* Forget a VM that is gone, so a new one of that name starts clean. */
export function forget(prefix) {
	for (const k of series.keys()) if (k.startsWith(prefix)) series.delete(k);
}

/*
 * A sparkline of values in [0, max]: a polyline plus a filled area, with
 * the newest sample at the right edge. Gaps (null) break the line.
 */
export function sparkline(key, { max = 1, width = 120, height = 28, cls = '' } = {}) {
	const svg = document.createElementNS(SVG, 'svg');
	svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
	svg.setAttribute('width', width);
	svg.setAttribute('height', height);
	svg.setAttribute('class', 'spark ' + cls);
	svg.dataset.graph = key;
	const pts = history(key);
	const step = width / (KEEP - 1);
	const x0 = width - (pts.length - 1) * step;
	let run = [];
	const flush = () => {
		if (run.length > 1) {
			const area = document.createElementNS(SVG, 'polygon');
			area.setAttribute('points', `${run[0][0]},${height} ` + run.map((p) => p.join(',')).join(' ') +
				` ${run[run.length - 1][0]},${height}`);
			area.setAttribute('class', 'area');
			svg.append(area);
			const line = document.createElementNS(SVG, 'polyline');
			line.setAttribute('points', run.map((p) => p.join(',')).join(' '));
			line.setAttribute('class', 'line');
			svg.append(line);
		}
		run = [];
	};
	pts.forEach((p, i) => {
		if (p.v === null) return flush();
		const y = height - 1 - Math.min(1, Math.max(0, p.v / max)) * (height - 2);
		run.push([(x0 + i * step).toFixed(1), y.toFixed(1)]);
	});
	flush();
	return svg;
}
