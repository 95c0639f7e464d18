// The VM list: one row per VM with its state, figures and live graphs,
// redrawn on every poll.
import { h, fill, fmtBytes, fmtUptime, fmtPercent } from '../dom.js';
import { sparkline } from '../graph.js';
import { store } from '../store.js';

export function renderVMList(root) {
	const body = h('tbody');
	fill(root,
		h('div', { class: 'toolbar' }, h('h2', {}, 'Virtual machines'), h('span', { class: 'spacer' }),
			h('a', { href: '#create', class: 'button primary', id: 'vm-list-create' }, 'Create VM')),
		h('table', { id: 'vm-list', class: 'grid' },
			h('thead', {}, h('tr', {}, ['Name', 'State', 'CPU', '', 'Memory', '', 'Uptime', 'Description'].map((c) => h('th', {}, c)))),
			body));
	const draw = (vms) => {
		if (!vms.length) {
			fill(body, h('tr', {}, h('td', { colspan: 8, class: 'empty' }, 'No VMs yet: Create VM makes one.')));
			return;
		}
		fill(body, vms.map(vmRow));
	};
	draw(store.vms);
	const off = store.subscribe(draw);
	return { destroy: off };
}

function vmRow(vm) {
	const running = vm.state === 'running' || vm.state === 'paused';
	const href = '#vm/' + encodeURIComponent(vm.name);
	return h('tr', { class: 'clickable', dataset: { vm: vm.name, state: vm.state }, onclick: () => { location.hash = href; } },
		h('td', {}, h('a', { href }, vm.name), vm.template ? h('span', { class: 'tag' }, 'template') : null),
		h('td', { dataset: { field: 'state' } }, h('span', { class: 'state state-' + vm.state }, vm.state)),
		h('td', { dataset: { field: 'cpu' } }, running && vm.vcpus ? fmtPercent(vm.cpu / vm.vcpus) : '-', ` of ${vm.vcpus}`),
		h('td', {}, sparkline('cpu:' + vm.name)),
		h('td', { dataset: { field: 'memory' } }, running ? fmtBytes(vm.mem_bytes) : '-', ` of ${fmtBytes(vm.memory_mib * 1048576)}`),
		h('td', {}, sparkline('mem:' + vm.name, { cls: 'mem' })),
		h('td', { dataset: { field: 'uptime' } }, running ? fmtUptime(vm.uptime) : '-'),
		h('td', { class: 'desc' }, vm.description || ''));
}
