// Summary: state, figures, CPU and memory graphs, and the description (as
// text: it is whatever the user typed, HTML included).
import { get, path } from '../api.js';
import { h, fill, fmtBytes, fmtUptime, fmtPercent } from '../dom.js';
import { sparkline } from '../graph.js';
import { store } from '../store.js';

export function renderSummary(root, name) {
	const figures = h('table', { class: 'kv', id: 'vm-summary' });
	const graphs = h('div', { class: 'graphs' });
	const desc = h('div', { id: 'vm-description', class: 'description' });
	const reason = h('div', { id: 'vm-reason', class: 'hint' });
	fill(root, h('div', { class: 'summary' },
		h('div', { class: 'panel' }, h('h3', {}, 'Status'), figures, reason),
		h('div', { class: 'panel' }, h('h3', {}, 'Usage'), graphs),
		h('div', { class: 'panel wide' }, h('h3', {}, 'Notes'), desc)));
	get(path`/api/vms/${name}`).then((vm) => {
		desc.textContent = (vm.config && vm.config.description) || '';
		if (vm.status && vm.status.reason) reason.textContent = 'Last stop: ' + vm.status.reason;
	}, (e) => { desc.textContent = e.message; });
	const draw = (vms) => {
		const vm = vms.find((v) => v.name === name);
		if (!vm) {
			fill(figures, row('State', 'no such VM'));
			return;
		}
		const running = vm.state === 'running' || vm.state === 'paused';
		fill(figures,
			row('State', h('span', { id: 'vm-state', class: 'state state-' + vm.state }, vm.state)),
			row('PID', running ? vm.pid : '-'),
			row('Uptime', running ? fmtUptime(vm.uptime) : '-'),
			row('CPUs', vm.vcpus),
			row('CPU usage', running && vm.vcpus ? fmtPercent(vm.cpu / vm.vcpus) : '-'),
			row('Memory', running ? `${fmtBytes(vm.mem_bytes)} of ${fmtBytes(vm.memory_mib * 1048576)}` : fmtBytes(vm.memory_mib * 1048576)),
			row('Disk I/O', `read ${fmtBytes(vm.disk_read_bytes)}, written ${fmtBytes(vm.disk_write_bytes)}`),
			row('Network', `in ${fmtBytes(vm.net_rx_bytes)}, out ${fmtBytes(vm.net_tx_bytes)}`),
			row('Start at boot', vm.onboot ? 'yes' : 'no'),
			row('Template', vm.template ? 'yes' : 'no'));
		fill(graphs,
			h('div', { class: 'graph' }, h('span', {}, 'CPU'), sparkline('cpu:' + name, { width: 360, height: 60 })),
			h('div', { class: 'graph' }, h('span', {}, 'Memory'), sparkline('mem:' + name, { width: 360, height: 60, cls: 'mem' })));
	};
	draw(store.vms);
	return { destroy: store.subscribe(draw) };
}

function row(k, ...v) {
	return h('tr', {}, h('th', {}, k), h('td', {}, ...v));
}
