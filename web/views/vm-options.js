// Options: the definition's keys that are not hardware (start at boot,
// description, console, boot settings), one form, PUT of what changed.
import { get, put, path } from '../api.js';
import { h, fill, field, select, errorLine } from '../dom.js';
import { guarded, toast } from '../notify.js';
import { pollNow } from '../store.js';

export function renderOptions(root, name) {
	const box = h('div', { class: 'panel' }, 'Loading…');
	fill(root, box);
	get(path`/api/vms/${name}`).then((vm) => fill(box, optionsForm(name, vm.config || {})),
		(e) => fill(box, h('div', { class: 'form-error' }, e.message)));
	return {};
}

function optionsForm(name, c) {
	const onboot = h('input', { type: 'checkbox', id: 'opt-onboot', checked: ['1', 'on', 'yes'].includes(String(c.onboot)) });
	/* One line: the definition file holds a value per line, no newlines. */
	const desc = h('input', { id: 'opt-description', class: 'wide', value: c.description || '' });
	const consoleSel = select('opt-console', [['', 'default (serial)'], ['serial', 'serial (8250 UART)'], ['virtio', 'virtio console']], c.console || '');
	const kernel = h('input', { id: 'opt-kernel', class: 'wide', value: c.kernel || '' });
	const initrd = h('input', { id: 'opt-initrd', class: 'wide', value: c.initrd || '' });
	const cmdline = h('input', { id: 'opt-cmdline', class: 'wide', value: c.cmdline || '' });
	const localtime = h('input', { type: 'checkbox', id: 'opt-localtime', checked: ['1', 'on', 'yes'].includes(String(c.localtime)) });
	const err = errorLine('opt-error');
	const save = h('button', { id: 'opt-save', class: 'primary', type: 'submit' }, 'Save');
	const form = h('form', { id: 'options-form' },
		h('label', { class: 'check' }, onboot, ' Start at boot'),
		field('Description', desc, 'shown on the Summary tab, as plain text'),
		field('Console', consoleSel),
		h('label', { class: 'check' }, localtime, ' RTC in local time (Windows guests)'),
		h('h3', {}, 'Boot (direct kernel boot)'),
		field('Kernel', kernel), field('Initrd', initrd), field('Kernel command line', cmdline),
		err, h('div', { class: 'buttons' }, save));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const want = {
			onboot: onboot.checked ? '1' : '0',
			localtime: localtime.checked ? '1' : null,
			description: desc.value || null,
			console: consoleSel.value || null,
			kernel: kernel.value.trim() || null,
			initrd: initrd.value.trim() || null,
			cmdline: cmdline.value || null,
		};
		const changes = {};
		for (const [k, v] of Object.entries(want)) {
			const cur = c[k] === undefined || c[k] === null ? null : String(c[k]);
			if (k === 'onboot' && cur === null && v === '0') continue;
			if (k === 'localtime' && v === null && cur !== null && !['1', 'on', 'yes'].includes(cur)) continue;
			if (v !== cur) changes[k] = v;
		}
		const ok = await guarded(save, err, async () => {
			if (Object.keys(changes).length) await put(path`/api/vms/${name}/config`, changes);
			return true;
		});
		if (ok) {
			Object.assign(c, changes);
			toast(`${name}: options saved`);
			pollNow();
		}
	});
	return form;
}
