// Storage: the pools (add, delete, start/stop) and, per pool, its volumes
// (create, delete) and the upload of ISO images and other files.
import { get, post, del, upload, path } from '../api.js';
import { h, fill, field, select, errorLine, fmtBytes } from '../dom.js';
import { guarded, toast } from '../notify.js';
import { follow } from '../tasks.js';

export function renderStorage(root) {
	const list = h('tbody');
	const name = h('input', { id: 'pool-add-name', required: true });
	const dir = h('input', { id: 'pool-add-path', required: true, placeholder: '/var/lib/vmkit/images' });
	const err = errorLine('pool-error');
	const add = h('button', { id: 'pool-add-submit', class: 'primary', type: 'submit' }, 'Add');
	const form = h('form', { class: 'inline-form', id: 'pool-add' }, field('ID', name), field('Directory', dir),
		field('Type', select('pool-add-type', [['dir', 'Directory']], 'dir')), add);
	fill(root, h('h2', {}, 'Storage'),
		h('table', { id: 'pool-list', class: 'grid' },
			h('thead', {}, h('tr', {}, ['Name', 'Type', 'Path', 'State', 'Autostart', 'Volumes', 'Usage', ''].map((c) => h('th', {}, c)))), list),
		h('h3', {}, 'Add storage (directory)'), form, err);

	const load = async () => {
		let pools;
		try {
			pools = await get('/api/pools');
		} catch (e) {
			err.textContent = e.message;
			return;
		}
		fill(list, pools.map((p) => {
			const href = '#storage/' + encodeURIComponent(p.name);
			const total = (p.used_bytes || 0) + (p.avail_bytes || 0);
			return h('tr', { dataset: { pool: p.name } },
				h('td', {}, h('a', { href }, p.name)), h('td', {}, p.type), h('td', { class: 'mono' }, p.path),
				h('td', {}, p.active ? 'active' : 'inactive'), h('td', {}, p.autostart ? 'yes' : 'no'),
				h('td', {}, p.volumes),
				h('td', {}, total ? h('span', {}, h('meter', { value: p.used_bytes / total }), ` ${fmtBytes(p.used_bytes)} of ${fmtBytes(total)}`) : '-'),
				h('td', { class: 'row-buttons' },
					h('button', { dataset: { poolToggle: p.name }, onclick: (e) => guarded(e.target, err, async () => {
						await post(path`/api/pools/${p.name}/` + (p.active ? 'stop' : 'start'));
						load();
					}) }, p.active ? 'Stop' : 'Start'),
					h('button', { dataset: { poolDelete: p.name }, class: 'danger', onclick: (e) => {
						if (!confirm(`Remove the storage ${p.name}? (Its directory and files stay.)`)) return;
						guarded(e.target, err, async () => {
							await del(path`/api/pools/${p.name}`);
							load();
						});
					} }, 'Remove')));
		}));
	};
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		guarded(add, err, async () => {
			await post('/api/pools', { name: name.value.trim(), path: dir.value.trim(), type: 'dir' });
			toast(`storage ${name.value.trim()} added`);
			name.value = dir.value = '';
			load();
		});
	});
	load();
	return {};
}

export function renderPool(root, pool) {
	const list = h('tbody');
	const err = errorLine('volume-error');
	const summary = h('div', { id: 'pool-summary', class: 'hint' });
	fill(root, h('h2', {}, `Storage ${pool}`), summary,
		h('table', { id: 'volume-list', class: 'grid' },
			h('thead', {}, h('tr', {}, ['Name', 'Format', 'Size', 'Used', 'Backing file', 'In use by', ''].map((c) => h('th', {}, c)))), list),
		err, createForm(pool, err, () => load()), uploadForm(pool, () => load()));

	const load = async () => {
		get(path`/api/pools/${pool}`).then((p) => { summary.textContent = `${p.type}, ${p.path}, ${p.active ? 'active' : 'inactive'}`; }, () => {});
		let vols;
		try {
			vols = await get(path`/api/pools/${pool}/volumes`);
		} catch (e) {
			err.textContent = e.message;
			return;
		}
		if (!vols.length) {
			fill(list, h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No volumes.')));
			return;
		}
		fill(list, vols.map((v) => h('tr', { dataset: { volume: v.name } },
			h('td', {}, v.name), h('td', {}, v.format), h('td', {}, fmtBytes(v.size)), h('td', {}, fmtBytes(v.used)),
			h('td', { class: 'mono' }, v.backing || '-'),
			h('td', {}, v.in_use_by ? h('a', { href: '#vm/' + encodeURIComponent(v.in_use_by) }, v.in_use_by) : '-'),
			h('td', { class: 'row-buttons' }, h('button', { class: 'danger', dataset: { volumeDelete: v.name }, onclick: (e) => {
				if (!confirm(`Delete the volume ${pool}:${v.name}? Its data is lost.`)) return;
				guarded(e.target, err, async () => {
					const id = await del(path`/api/pools/${pool}/volumes/${v.name}`);
					if (typeof id === 'string') await follow(id, `volume ${pool}:${v.name}: delete`);
					load();
				});
			} }, 'Delete')))));
	};
	load();
	return {};
}

function createForm(pool, err, reload) {
	const name = h('input', { id: 'vol-name', required: true, placeholder: 'disk1.qcow2' });
	const size = h('input', { id: 'vol-size', required: true, value: '8G' });
	const format = select('vol-format', ['qcow2', 'raw'], 'qcow2');
	const backing = h('input', { id: 'vol-backing', placeholder: 'none' });
	const ok = h('button', { id: 'vol-create', class: 'primary', type: 'submit' }, 'Create');
	const form = h('form', { class: 'inline-form', id: 'volume-create' }, h('h3', {}, 'Create volume'),
		field('Name', name), field('Size', size), field('Format', format), field('Backing volume', backing), ok);
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		guarded(ok, err, async () => {
			const id = await post(path`/api/pools/${pool}/volumes`, { name: name.value.trim(), size: size.value.trim(),
				format: format.value, backing: backing.value.trim() || null });
			if (typeof id === 'string') {
				const t = await follow(id, `volume ${pool}:${name.value.trim()}: create`);
				if (t.status !== 'OK') throw new Error(t.status);
			}
			name.value = '';
			reload();
		});
	});
	return form;
}

/* XMLHttpRequest for its upload progress; the body is the file itself. */
function uploadForm(pool, reload) {
	const file = h('input', { id: 'upload-file', type: 'file' });
	const fname = h('input', { id: 'upload-name', placeholder: 'the file\'s own name' });
	const bar = h('progress', { id: 'upload-progress', max: 1, value: 0 });
	const status = h('span', { id: 'upload-status', class: 'hint' });
	const err = errorLine('upload-error');
	const ok = h('button', { id: 'upload-submit', class: 'primary', type: 'submit' }, 'Upload');
	file.addEventListener('change', () => { if (file.files[0] && !fname.value) fname.value = file.files[0].name; });
	const form = h('form', { class: 'inline-form', id: 'upload-form' }, h('h3', {}, 'Upload (ISO image or any file)'),
		field('File', file), field('Name in the pool', fname), ok, bar, status, err);
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		const f = file.files[0];
		if (!f) {
			err.textContent = 'Choose a file first';
			return;
		}
		const target = fname.value.trim() || f.name;
		bar.value = 0;
		status.textContent = 'uploading…';
		status.dataset.state = 'running';
		guarded(ok, err, async () => {
			try {
				const id = await upload(path`/api/pools/${pool}/upload?filename=${target}`, f, (frac) => {
					bar.value = frac;
					status.textContent = `uploading… ${Math.floor(frac * 100)} %`;
				});
				bar.value = 1;
				if (typeof id === 'string') {
					status.textContent = 'upload sent, the server finishes it…';
					const t = await follow(id, `upload ${pool}:${target}`);
					if (t.status !== 'OK') throw new Error(t.status);
				}
			} catch (e) {
				status.textContent = 'upload failed';
				status.dataset.state = 'failed';
				throw e;
			}
			status.textContent = `upload of ${target} complete`;
			status.dataset.state = 'done';
			toast(`${target} uploaded to ${pool}`);
			reload();
		});
	});
	return form;
}
