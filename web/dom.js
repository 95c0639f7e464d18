// Building DOM without innerHTML: every string from the server goes in as a
// text node, so a VM description of "<b>x</b>" shows those characters.

/*
 * h('tr', {id: 'x', dataset: {vm: name}, onclick: fn}, 'text', child, ...)
 * Strings and numbers become text nodes; null/false children are skipped.
 */
export function h(tag, attrs, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false) continue;
		if (k === 'dataset') Object.assign(el.dataset, v);
		else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
		else if (k === 'class') el.className = v;
		else if (k === 'value') el.value = v;
		else if (k === 'checked') el.checked = !!v;
		else el.setAttribute(k, v === true ? '' : String(v));
	}
	append(el, children);
	return el;
}

function append(el, children) {
	for (const c of children.flat(Infinity)) {
		if (c === null || c === undefined || c === false) continue;
		el.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
}

/* Replace an element's children. */
export function fill(el, ...children) {
	el.replaceChildren();
	append(el, children);
	return el;
}

export function $(sel, root = document) {
	return root.querySelector(sel);
}

export function fmtBytes(n) {
	if (n === null || n === undefined) return '-';
	const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	let i = 0;
	while (n >= 1024 && i < units.length - 1) {
		n /= 1024;
		i++;
	}
	return (i ? n.toFixed(n < 10 ? 2 : 1) : n) + ' ' + units[i];
}

export function fmtUptime(s) {
	if (!s) return '-';
	const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600);
	const mm = Math.floor((s % 3600) / 60), ss = Math.floor(s % 60);
	const two = (x) => String(x).padStart(2, '0');
	return (d ? d + 'd ' : '') + `${two(hh)}:${two(mm)}:${two(ss)}`;
}

export function fmtTime(unix) {
	if (!unix) return '-';
	return new Date(unix * 1000).toLocaleString();
}

export function fmtPercent(f) {
	return f === null || f === undefined || isNaN(f) ? '-' : (f * 100).toFixed(1) + ' %';
}

/* A labelled form row: label text, then the control. */
export function field(label, control, hint) {
	return h('label', { class: 'field' }, h('span', { class: 'label' }, label), control,
		hint ? h('span', { class: 'hint' }, hint) : null);
}

export function select(id, options, value) {
	return h('select', { id },
		options.map((o) => {
			const [v, text] = Array.isArray(o) ? o : [o, o];
			return h('option', { value: v, selected: v === value }, text);
		}));
}

/* The line under a form that shows the server's message. */
export function errorLine(id) {
	return h('div', { id, class: 'form-error', role: 'alert' });
}
