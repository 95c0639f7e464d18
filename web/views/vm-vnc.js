// Display: noVNC on /api/vms/{name}/vnc, which the server joins to the VM's
// VNC socket (a VM with vga: std). A VM without a display, or not running,
// refuses the socket: say so plainly.
import { h, fill } from '../dom.js';
import { wsURL, path } from '../api.js';

export function renderVNC(root, name) {
	const status = h('div', { id: 'vnc-status', class: 'hint' }, 'connecting…');
	const screen = h('div', { id: 'vnc-screen', class: 'vnc-screen' });
	const ctrlAltDel = h('button', { id: 'vnc-cad', disabled: true }, 'Ctrl-Alt-Del');
	fill(root, h('div', { class: 'toolbar' }, status, h('span', { class: 'spacer' }), ctrlAltDel), screen);

	let rfb = null, closed = false, connected = false;
	const start = async () => {
		let RFB;
		try {
			({ default: RFB } = await import('../vendor/novnc/core/rfb.js'));
		} catch (e) {
			status.textContent = 'noVNC is missing from this web root (scripts/web-vendor.sh installs it)';
			return;
		}
		if (closed) return;
		try {
			rfb = new RFB(screen, wsURL(path`/api/vms/${name}/vnc`));
		} catch (e) {
			status.textContent = 'cannot open the display: ' + e.message;
			return;
		}
		rfb.scaleViewport = true;
		rfb.addEventListener('connect', () => {
			connected = true;
			status.textContent = 'connected';
			status.dataset.state = 'connected';
			ctrlAltDel.disabled = false;
		});
		rfb.addEventListener('disconnect', (ev) => {
			if (closed) return;
			ctrlAltDel.disabled = true;
			status.dataset.state = connected ? 'closed' : 'nodisplay';
			status.textContent = connected ? (ev.detail.clean ? 'the display closed' : 'the display connection broke off')
				: 'This VM shows no display: it is not running, or has none (Hardware: Display, Standard VGA).';
			if (!connected) screen.hidden = true;
		});
		rfb.addEventListener('securityfailure', (ev) => {
			status.textContent = 'VNC security failure: ' + (ev.detail.reason || ev.detail.status);
		});
		ctrlAltDel.onclick = () => rfb.sendCtrlAltDel();
	};
	start();
	return {
		destroy() {
			closed = true;
			if (rfb) rfb.disconnect();
		},
	};
}
