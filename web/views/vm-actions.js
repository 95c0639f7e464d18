// The VM's buttons, as Proxmox's: Start, Shutdown, Stop, Reboot, Pause,
// Resume, Clone, Convert to template, Delete. Each long one returns a task
// that the task bar follows.
import { post, del, path } from '../api.js';
import { h, field } from '../dom.js';
import { follow } from '../tasks.js';
import { guarded, toast, showError } from '../notify.js';
import { pollNow } from '../store.js';

/* Which states each button makes sense in (the server still decides). */
const BUTTONS = [
	['start', 'Start', ['shutoff', 'crashed']],
	['shutdown', 'Shutdown', ['running']],
	['stop', 'Stop', ['running', 'paused']],
	['reboot', 'Reboot', ['running']],
	['pause', 'Pause', ['running']],
	['resume', 'Resume', ['paused']],
];

async function lifecycle(name, op) {
	const body = op === 'shutdown' ? { timeout: 60, force: false } : {};
	const id = await post(path`/api/vms/${name}/status/` + op, body);
	follow(id, `VM ${name}: ${op}`).then(pollNow, () => {});
	pollNow();
}

export function actionBar(name) {
	const buttons = {};
	for (const [op, label] of BUTTONS) {
		buttons[op] = h('button', { id: 'vm-' + op, onclick: (e) => guarded(e.target, null, () => lifecycle(name, op)) }, label);
	}
	buttons.clone = h('button', { id: 'vm-clone', onclick: () => cloneDialog(name) }, 'Clone');
	buttons.template = h('button', {
		id: 'vm-template',
		onclick: (e) => {
			if (!confirm(`Convert ${name} to a template? It cannot be started afterwards, only cloned.`)) return;
			guarded(e.target, null, async () => {
				await post(path`/api/vms/${name}/template`);
				toast(`${name} is now a template`);
				pollNow();
			});
		},
	}, 'Convert to template');
	buttons.delete = h('button', { id: 'vm-delete', class: 'danger', onclick: () => deleteDialog(name) }, 'Delete');
	const el = h('div', { class: 'actions' }, Object.values(buttons));
	return {
		el,
		update(vm) {
			for (const [op, , states] of BUTTONS) buttons[op].disabled = !vm || vm.template || !states.includes(vm.state);
			buttons.template.disabled = !vm || vm.template || vm.state !== 'shutoff';
			buttons.delete.disabled = !vm || vm.state === 'running' || vm.state === 'paused';
			buttons.clone.disabled = !vm;
		},
	};
}

/* A modal <dialog id="ID-dialog"> with a form; its buttons ID-confirm, ID-cancel. */
function dialog(id, title, fields, okLabel, onOK) {
	const err = h('div', { class: 'form-error', id: id + '-error', role: 'alert' });
	const ok = h('button', { id: id + '-confirm', type: 'submit', class: 'primary' }, okLabel);
	const cancel = h('button', { id: id + '-cancel', type: 'button', onclick: () => dlg.close() }, 'Cancel');
	const form = h('form', { method: 'dialog' }, h('h3', {}, title), fields, err, h('div', { class: 'buttons' }, cancel, ok));
	const dlg = h('dialog', { id: id + '-dialog' }, form);
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const done = await guarded(ok, err, onOK);
		if (done !== undefined) dlg.close();
	});
	dlg.addEventListener('close', () => dlg.remove());
	document.body.append(dlg);
	dlg.showModal();
	return dlg;
}

function deleteDialog(name) {
	const purge = h('input', { type: 'checkbox', id: 'delete-purge', checked: true });
	dialog('delete', `Delete VM ${name}`, [
		h('p', {}, `This removes the definition of ${name}.`),
		h('label', { class: 'check' }, purge, ' Purge: also remove the VM\'s own volumes'),
	], 'Delete', async () => {
		const id = await del(path`/api/vms/${name}` + (purge.checked ? '?purge=1' : ''));
		follow(id, `VM ${name}: delete`).then((t) => {
			pollNow();
			if (t.status === 'OK' && location.hash.startsWith('#vm/' + encodeURIComponent(name))) location.hash = '#vms';
		}, (e) => showError(e));
		return true;
	});
}

function cloneDialog(name) {
	const newname = h('input', { id: 'clone-name', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9._-]*', maxlength: 63 });
	const full = h('input', { type: 'checkbox', id: 'clone-full' });
	dialog('clone', `Clone VM ${name}`, [
		field('New name', newname),
		h('label', { class: 'check' }, full, ' Full clone (copy the disks; otherwise linked clones on qcow2 backing files)'),
	], 'Clone', async () => {
		const id = await post(path`/api/vms/${name}/clone`, { newname: newname.value.trim(), full: full.checked });
		follow(id, `VM ${name}: clone to ${newname.value.trim()}`).then(pollNow, () => {});
		return true;
	});
}
