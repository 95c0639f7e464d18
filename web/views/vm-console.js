// Console: xterm.js on the VM's serial (or virtio) console, over the
// WebSocket /api/vms/{name}/console. Binary frames both ways: the bytes
// the guest writes, and the keys typed here as UTF-8.
import { h, fill } from '../dom.js';
import { wsURL, path } from '../api.js';

export function renderConsole(root, name) {
	const status = h('span', { id: 'console-status', class: 'hint' }, 'connecting…');
	const term = h('div', { id: 'console-term', class: 'terminal' });
	const reconnect = h('button', { id: 'console-reconnect', hidden: true }, 'Reconnect');
	fill(root, h('div', { class: 'toolbar' }, status, reconnect), term);

	let ws = null, xterm = null, fit = null, closed = false;
	const onResize = () => fit && fit.fit();

	const connect = () => {
		reconnect.hidden = true;
		status.textContent = 'connecting…';
		ws = new WebSocket(wsURL(path`/api/vms/${name}/console`));
		ws.binaryType = 'arraybuffer';
		ws.onopen = () => {
			status.textContent = 'connected';
			status.dataset.state = 'connected';
			xterm.focus();
		};
		ws.onmessage = (ev) => xterm.write(typeof ev.data === 'string' ? ev.data : new Uint8Array(ev.data));
		ws.onclose = (ev) => {
			if (closed) return;
			status.dataset.state = 'closed';
			/* A refused upgrade (VM not running, no console) closes with 1006 before open. */
			status.textContent = ev.code === 1000 ? 'the console closed' : `disconnected (the VM may not be running${ev.reason ? ': ' + ev.reason : ''})`;
			reconnect.hidden = false;
		};
	};

	const start = async () => {
		let Terminal, FitAddon;
		try {
			({ Terminal } = await import('../vendor/xterm/xterm.mjs'));
			({ FitAddon } = await import('../vendor/xterm/addon-fit.mjs'));
		} catch (e) {
			status.textContent = 'xterm.js is missing from this web root (scripts/web-vendor.sh installs it)';
			return;
		}
		if (closed) return;
		xterm = new Terminal({ convertEol: false, cursorBlink: true, scrollback: 5000, fontSize: 14,
			fontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace' });
		fit = new FitAddon();
		xterm.loadAddon(fit);
		xterm.open(term);
		fit.fit();
		/* For the browser tests: read the buffer without scraping the DOM. */
		window.vmkitTerminal = xterm;
		const enc = new TextEncoder();
		xterm.onData((s) => ws && ws.readyState === WebSocket.OPEN && ws.send(enc.encode(s)));
		xterm.onBinary((s) => ws && ws.readyState === WebSocket.OPEN &&
			ws.send(Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff)));
		window.addEventListener('resize', onResize);
		reconnect.onclick = connect;
		connect();
	};
	start();

	return {
		destroy() {
			closed = true;
			window.removeEventListener('resize', onResize);
			if (ws) ws.close();
			if (xterm) xterm.dispose();
			if (window.vmkitTerminal === xterm) window.vmkitTerminal = null;
		},
	};
}
