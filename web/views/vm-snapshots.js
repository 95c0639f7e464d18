// Snapshots: list, take, roll back, delete; each a task.
import { get, post, del, path } from '../api.js';
import { h, fill, field, errorLine, fmtTime, fmtBytes } from '../dom.js';
import { guarded } from '../notify.js';
import { follow } from '../tasks.js';

export function renderSnapshots(root, name) {
	const list = h('tbody');
	const snapName = h('input', { id: 'snap-name', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9._-]*', maxlength: 63 });
	const err = errorLine('snap-error');
	const take = h('button', { id: 'snap-take', class: 'primary', type: 'submit' }, 'Take snapshot');
	const form = h('form', { class: 'inline-form' }, field('Name', snapName), take);
	fill(root, form, err,
		h('table', { id: 'snap-list', class: 'grid' },
			h('thead', {}, h('tr', {}, ['Name', 'Disk', 'Date', 'VM state', ''].map((c) => h('th', {}, c)))), list));

	const load = async () => {
		let snaps;
		try {
			snaps = await get(path`/api/vms/${name}/snapshots`);
		} catch (e) {
			fill(list, h('tr', {}, h('td', { colspan: 5, class: 'form-error' }, e.message)));
			return;
		}
		if (!snaps.length) {
			fill(list, h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No snapshots.')));
			return;
		}
		fill(list, snaps.map((s) => h('tr', { dataset: { snap: s.name } },
			h('td', {}, s.name),
			/* A snapshot is per disk (qcow2 internal snapshots): which one. */
			h('td', { class: 'mono' }, s.disk ? `${s.disk} (${s.volume || ''})` : '-'),
			h('td', {}, typeof s.date === 'number' ? fmtTime(s.date) : (s.date || '')),
			h('td', {}, s.vm_state_size || s.vm_size ? fmtBytes(s.vm_state_size || s.vm_size) : '-'),
			h('td', { class: 'row-buttons' },
				h('button', { dataset: { rollback: s.name }, onclick: (e) => act(e.target, 'rollback', s.name) }, 'Rollback'),
				h('button', { dataset: { deleteSnap: s.name }, class: 'danger', onclick: (e) => act(e.target, 'delete', s.name) }, 'Delete')))));
	};

	/* Start the task, follow it, reload the list when it ends. */
	const run = async (button, label, call) => {
		await guarded(button, err, async () => {
			const id = await call();
			follow(id, `VM ${name}: ${label}`).then(load, load);
		});
	};
	const act = (button, what, snap) => {
		if (!confirm(`${what === 'rollback' ? 'Roll back to' : 'Delete'} snapshot ${snap}?`)) return;
		run(button, `snapshot ${snap} ${what}`, () => (what === 'rollback'
			? post(path`/api/vms/${name}/snapshots/${snap}/rollback`)
			: del(path`/api/vms/${name}/snapshots/${snap}`)));
	};
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		const snap = snapName.value.trim();
		run(take, `snapshot ${snap}`, () => post(path`/api/vms/${name}/snapshots`, { name: snap }));
	});
	load();
	return {};
}
