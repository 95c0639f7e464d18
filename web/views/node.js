// Datacenter: the host's figures (GET /api/node/status) with a CPU and a
// memory graph, as Proxmox's node summary.
import { get } from '../api.js';
import { h, fill, fmtBytes, fmtUptime, fmtPercent } from '../dom.js';
import { record, sparkline } from '../graph.js';
import { store } from '../store.js';

export function renderNode(root) {
	const body = h('div', { id: 'node-summary' });
	fill(root, h('h2', {}, 'Datacenter'), body);
	const refresh = async () => {
		let n;
		try {
			n = await get('/api/node/status');
		} catch (e) {
			fill(body, h('div', { class: 'form-error' }, e.message));
			return;
		}
		record('host:cpu', n.cpu);
		record('host:mem', n.memory && n.memory.total ? n.memory.used / n.memory.total : null);
		const running = store.vms.filter((v) => v.state === 'running').length;
		fill(body, h('table', { class: 'kv' },
			row('Host', n.hostname), row('Kernel', n.kernel), row('vmkit', n.version),
			row('KVM', n.kvm ? 'available' : 'not available'),
			row('CPUs', n.cpus), row('CPU usage', fmtPercent(n.cpu), sparkline('host:cpu', { width: 240, height: 40 })),
			row('Load average', (n.loadavg || []).map((x) => x.toFixed(2)).join(', ')),
			row('Memory', n.memory ? `${fmtBytes(n.memory.used)} of ${fmtBytes(n.memory.total)}` : '-',
				sparkline('host:mem', { width: 240, height: 40, cls: 'mem' })),
			row('Uptime', fmtUptime(n.uptime)),
			row('VMs', `${store.vms.length} (${running} running)`)));
	};
	refresh();
	const timer = setInterval(refresh, 2500);
	return { destroy: () => clearInterval(timer) };
}

function row(k, ...v) {
	return h('tr', {}, h('th', {}, k), h('td', {}, ...v));
}
