// Networks: vmkit's bridges (with NAT uplink) for VMs' network= devices.
import { get, post, del, path } from '../api.js';
import { h, fill, field, errorLine } from '../dom.js';
import { guarded, toast } from '../notify.js';

export function renderNetworks(root) {
	const list = h('tbody');
	const err = errorLine('net-error');
	const f = {
		name: h('input', { id: 'net-name', required: true }),
		bridge: h('input', { id: 'net-bridge', placeholder: 'vmkbr0' }),
		address: h('input', { id: 'net-address', placeholder: '10.10.0.1/24' }),
		uplink: h('input', { id: 'net-uplink', placeholder: 'eth0 (NAT), empty: isolated' }),
		mtu: h('input', { id: 'net-mtu', type: 'number', min: 68, max: 65535 }),
		autostart: h('input', { id: 'net-autostart', type: 'checkbox', checked: true }),
	};
	const add = h('button', { id: 'net-add', class: 'primary', type: 'submit' }, 'Create');
	const form = h('form', { class: 'inline-form', id: 'net-add-form' }, field('Name', f.name), field('Bridge', f.bridge),
		field('Address (CIDR)', f.address), field('Uplink', f.uplink), field('MTU', f.mtu),
		h('label', { class: 'check' }, f.autostart, ' Autostart'), add);
	fill(root, h('h2', {}, 'Networks'),
		h('table', { id: 'net-list', class: 'grid' },
			h('thead', {}, h('tr', {}, ['Name', 'Bridge', 'Address', 'Uplink', 'MTU', 'State', 'Autostart', ''].map((c) => h('th', {}, c)))), list),
		h('h3', {}, 'Create network'), form, err);

	const load = async () => {
		let nets;
		try {
			nets = await get('/api/networks');
		} catch (e) {
			err.textContent = e.message;
			return;
		}
		if (!nets.length) {
			fill(list, h('tr', {}, h('td', { colspan: 8, class: 'empty' }, 'No networks: VMs can still use user networking.')));
			return;
		}
		fill(list, nets.map((n) => h('tr', { dataset: { network: n.name } },
			h('td', {}, n.name), h('td', {}, n.bridge || '-'), h('td', {}, n.address || '-'), h('td', {}, n.uplink || '-'),
			h('td', {}, n.mtu || '-'), h('td', {}, n.active ? 'active' : 'inactive'), h('td', {}, n.autostart ? 'yes' : 'no'),
			h('td', { class: 'row-buttons' },
				h('button', { dataset: { netToggle: n.name }, onclick: (e) => guarded(e.target, err, async () => {
					await post(path`/api/networks/${n.name}/` + (n.active ? 'stop' : 'start'));
					load();
				}) }, n.active ? 'Stop' : 'Start'),
				h('button', { dataset: { netDelete: n.name }, class: 'danger', onclick: (e) => {
					if (!confirm(`Delete the network ${n.name}?`)) return;
					guarded(e.target, err, async () => {
						await del(path`/api/networks/${n.name}`);
						load();
					});
				} }, 'Delete')))));
	};
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		const body = { name: f.name.value.trim(), autostart: f.autostart.checked };
		for (const k of ['bridge', 'address', 'uplink']) if (f[k].value.trim()) body[k] = f[k].value.trim();
		if (f.mtu.value) body.mtu = Number(f.mtu.value);
		guarded(add, err, async () => {
			await post('/api/networks', body);
			toast(`network ${body.name} created`);
			f.name.value = '';
			load();
		});
	});
	load();
	return {};
}
