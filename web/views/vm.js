// One VM: its action buttons and its tabs (#vm/NAME/TAB). Each tab is its
// own module; this file only switches between them.
import { h, fill } from '../dom.js';
import { store } from '../store.js';
import { actionBar } from './vm-actions.js';
import { renderSummary } from './vm-summary.js';
import { renderHardware } from './vm-hardware.js';
import { renderOptions } from './vm-options.js';
import { renderSnapshots } from './vm-snapshots.js';
import { renderConsole } from './vm-console.js';
import { renderVNC } from './vm-vnc.js';

const TABS = [
	['summary', 'Summary', renderSummary],
	['hardware', 'Hardware', renderHardware],
	['options', 'Options', renderOptions],
	['snapshots', 'Snapshots', renderSnapshots],
	['console', 'Console', renderConsole],
	['vnc', 'Display', renderVNC],
];

export function renderVM(root, name, tab) {
	const entry = TABS.find((t) => t[0] === tab) || TABS[0];
	const href = (t) => `#vm/${encodeURIComponent(name)}/${t}`;
	const title = h('h2', { id: 'vm-title' }, `VM ${name}`);
	const state = h('span', { id: 'vm-state-badge', class: 'state' });
	const actions = actionBar(name);
	const pane = h('div', { id: 'vm-tab-pane', class: 'tab-pane' });
	fill(root, h('div', { id: 'vm-page', dataset: { vm: name } },
		h('div', { class: 'toolbar' }, title, state, h('span', { class: 'spacer' }), actions.el),
		h('div', { class: 'tabs', role: 'tablist' }, TABS.map(([id, label]) =>
			h('a', { id: 'tab-' + id, href: href(id), role: 'tab', class: 'tab' + (id === entry[0] ? ' active' : ''),
				'aria-selected': id === entry[0] ? 'true' : 'false' }, label))),
		pane));
	const showState = (vms) => {
		const vm = vms.find((v) => v.name === name);
		state.textContent = vm ? vm.state : 'unknown';
		state.className = 'state state-' + (vm ? vm.state : 'unknown');
		state.dataset.state = vm ? vm.state : '';
		actions.update(vm);
	};
	showState(store.vms);
	const off = store.subscribe(showState);
	const tabView = entry[2](pane, name);
	return {
		destroy() {
			off();
			if (tabView && tabView.destroy) tabView.destroy();
		},
	};
}
