// Create VM, step by step as Proxmox's wizard: General, OS, Disks, CPU,
// Memory, Network, Confirm -> POST /api/vms. The steps are one form, shown
// a panel at a time, so Back and the step tabs never lose what was typed.
import { get, post, path } from '../api.js';
import { h, fill, field, select, errorLine } from '../dom.js';
import { guarded, toast } from '../notify.js';
import { follow } from '../tasks.js';
import { pollNow } from '../store.js';

const STEPS = [['general', 'General'], ['os', 'OS'], ['disks', 'Disks'], ['cpu', 'CPU'],
	['memory', 'Memory'], ['network', 'Network'], ['confirm', 'Confirm']];
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function renderWizard(root) {
	const f = fields();
	const panels = {
		general: [field('Name', f.name, 'letters, digits, . _ -; at most 63'), field('Description', f.desc),
			h('label', { class: 'check' }, f.onboot, ' Start at boot')],
		os: [field('Boot', f.boot, 'firmware boots the ISO or the disk as a PC does; a kernel boots at once'),
			field('ISO image', f.iso, 'an installer, on a CD-ROM drive (ide2, on SATA); boots first under firmware'),
			field('Kernel', f.kernel, 'absolute path on the host (direct boot; optional with firmware)'),
			field('Initrd', f.initrd, 'optional'),
			field('Kernel command line', f.cmdline), field('Console', f.console)],
		disks: [h('label', { class: 'check' }, f.nodisk, ' No disk'),
			field('Bus/Device', h('input', { value: 'VirtIO Block (virtio0)', disabled: true })),
			field('Storage', f.pool), field('Disk size', f.size, 'e.g. 8G'), field('Format', f.format),
			field('Cache', f.cache), field('Discard', f.discard),
			h('label', { class: 'check' }, f.iothread, ' IO thread'),
			h('label', { class: 'check', title: 'vmkit\'s virtio-blk has no SSD emulation flag yet' }, f.ssd, ' SSD emulation (not offered by vmkit)')],
		cpu: [field('Sockets', f.sockets), field('Cores', f.cores), field('Type', f.cputype)],
		memory: [field('Memory', f.memory, 'e.g. 512M, 2G'), field('Minimum memory (balloon)', f.balloon, 'empty: no balloon')],
		network: [field('Connect to', f.netmode), field('Network', f.network), field('Bridge', f.bridge),
			field('Model', h('input', { value: 'VirtIO (paravirtualized)', disabled: true })),
			field('Multiqueue', f.queues, 'queues, tap only')],
		confirm: [h('table', { id: 'wizard-summary', class: 'kv' }), h('label', { class: 'check' }, f.start, ' Start after created')],
	};
	const err = errorLine('wizard-error');
	const back = h('button', { id: 'wizard-back', type: 'button' }, 'Back');
	const next = h('button', { id: 'wizard-next', type: 'button', class: 'primary' }, 'Next');
	const finish = h('button', { id: 'wizard-finish', type: 'submit', class: 'primary' }, 'Finish');
	const tabs = STEPS.map(([id, label]) => h('a', { href: '#create', class: 'tab', id: 'wizard-tab-' + id, dataset: { step: id }, onclick: (e) => { e.preventDefault(); go(id); } }, label));
	const form = h('form', { id: 'wizard', class: 'wizard', novalidate: true },
		h('h2', {}, 'Create: Virtual Machine'),
		h('div', { class: 'tabs' }, tabs),
		STEPS.map(([id]) => h('fieldset', { id: 'wizard-step-' + id, class: 'step', dataset: { step: id }, hidden: true }, panels[id])),
		err, h('div', { class: 'buttons' }, back, next, finish));
	fill(root, form);

	let cur = 0;
	const go = (id) => {
		const i = STEPS.findIndex(([s]) => s === id);
		if (i > cur && !validate(f, err, STEPS[cur][0])) return;
		cur = i;
		for (const fs of form.querySelectorAll('fieldset.step')) fs.hidden = fs.dataset.step !== id;
		tabs.forEach((t, j) => t.classList.toggle('active', j === i));
		back.disabled = i === 0;
		next.hidden = i === STEPS.length - 1;
		finish.hidden = i !== STEPS.length - 1;
		if (id === 'confirm') showSummary(form.querySelector('#wizard-summary'), request(f));
		form.dataset.step = id;
	};
	back.onclick = () => go(STEPS[Math.max(0, cur - 1)][0]);
	next.onclick = () => go(STEPS[Math.min(STEPS.length - 1, cur + 1)][0]);
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		for (const [s] of STEPS) if (!validate(f, err, s)) return go(s);
		const req = request(f);
		await guarded(finish, err, async () => {
			const reply = await post('/api/vms', req);
			toast(`VM ${req.name} created`);
			if (req.start && reply !== req.name) follow(reply, `VM ${req.name}: start`).then(pollNow, () => {});
			pollNow();
			location.hash = '#vm/' + encodeURIComponent(req.name);
		});
	});
	go('general');
	loadChoices(f);
	return {};
}

function fields() {
	const cb = (id, checked) => h('input', { type: 'checkbox', id, checked });
	return {
		name: h('input', { id: 'wizard-name', required: true, maxlength: 63 }),
		desc: h('input', { id: 'wizard-description' }),
		onboot: cb('wizard-onboot', false),
		kernel: h('input', { id: 'wizard-kernel', required: true, placeholder: '/path/to/vmlinuz' }),
		initrd: h('input', { id: 'wizard-initrd' }),
		cmdline: h('input', { id: 'wizard-cmdline', value: 'console=ttyS0' }),
		boot: select('wizard-boot', [['kernel', 'Linux kernel (direct boot, fastest)'], ['seabios', 'SeaBIOS (BIOS)'],
			['ovmf', 'OVMF (UEFI)']], 'kernel'),
		console: select('wizard-console', [['serial', 'serial (8250 UART)'], ['virtio', 'virtio console']], 'serial'),
		iso: select('wizard-iso', [['', 'none']], ''),
		nodisk: cb('wizard-nodisk', false),
		pool: select('wizard-disk-pool', [], ''),
		size: h('input', { id: 'wizard-disk-size', value: '8G' }),
		format: select('wizard-disk-format', [['qcow2', 'QEMU image format (qcow2)'], ['raw', 'Raw disk image (raw)']], 'qcow2'),
		cache: select('wizard-disk-cache', [['none', 'Default (no cache)'], 'writeback', 'writethrough', 'directsync', 'unsafe'], 'none'),
		discard: cb('wizard-disk-discard', true),
		iothread: cb('wizard-disk-iothread', true),
		ssd: h('input', { type: 'checkbox', id: 'wizard-disk-ssd', disabled: true }),
		sockets: h('input', { id: 'wizard-sockets', type: 'number', min: 1, max: 288, value: 1 }),
		cores: h('input', { id: 'wizard-cores', type: 'number', min: 1, max: 288, value: 1 }),
		/*
		 * Default, not host: no cpu key lets the monitor choose, host on KVM but
		 * baseline on PVM hosts, whose emulator cannot run a kernel that sees all
		 * host features (cmpxchg16b stops the VM early in boot).
		 */
		cputype: select('wizard-cpu-type', [['', 'default'], ['host', 'host'], ['baseline', 'baseline']], ''),
		memory: h('input', { id: 'wizard-memory', value: '512M' }),
		balloon: h('input', { id: 'wizard-balloon' }),
		netmode: select('wizard-net-mode', [['user', 'user (NAT, no tap)'], ['network', 'vmkit network'], ['bridge', 'host bridge'], ['none', 'no network device']], 'user'),
		network: select('wizard-net-network', [], ''),
		bridge: h('input', { id: 'wizard-net-bridge', placeholder: 'vmbr0' }),
		queues: h('input', { id: 'wizard-net-queues', type: 'number', min: 1, max: 16 }),
		start: cb('wizard-start', false),
	};
}

/* Pools, their ISO volumes and the networks, for the selects. */
async function loadChoices(f) {
	const pools = await get('/api/pools').catch(() => []);
	fill(f.pool, pools.map((p) => h('option', { value: p.name, selected: p.name === 'local' }, `${p.name} (${p.type}${p.active ? '' : ', inactive'})`)));
	for (const p of pools.filter((q) => q.active)) {
		const vols = await get(path`/api/pools/${p.name}/volumes`).catch(() => []);
		for (const v of vols.filter((x) => /\.iso$/i.test(x.name))) f.iso.append(h('option', { value: `${p.name}:${v.name}` }, `${p.name}:${v.name}`));
	}
	const nets = await get('/api/networks').catch(() => []);
	fill(f.network, nets.map((n) => h('option', { value: n.name }, n.name + (n.active ? '' : ' (inactive)'))));
}

function validate(f, err, step) {
	err.textContent = '';
	const bad = (el, msg) => {
		err.textContent = msg;
		el.focus();
		return false;
	};
	if (step === 'general' && !NAME_RE.test(f.name.value.trim()))
		return bad(f.name, 'Name: letters, digits, ".", "_", "-", starting with a letter or digit, at most 63');
	if (step === 'os' && f.boot.value === 'kernel' && !f.kernel.value.trim().startsWith('/'))
		return bad(f.kernel, 'Kernel: an absolute path on the host is needed (or boot through firmware)');
	if (step === 'os' && f.kernel.value.trim() && !f.kernel.value.trim().startsWith('/'))
		return bad(f.kernel, 'Kernel: an absolute path on the host');
	if (step === 'disks' && !f.nodisk.checked && !f.pool.value) return bad(f.pool, 'Storage: no pool to put the disk in (add one under Storage)');
	if (step === 'memory' && !/^\d+[KMGT]?$/i.test(f.memory.value.trim())) return bad(f.memory, 'Memory: a size such as 512M or 2G');
	if (step === 'network' && f.netmode.value === 'network' && !f.network.value) return bad(f.network, 'Network: none defined (add one under Networks)');
	if (step === 'network' && f.netmode.value === 'bridge' && !f.bridge.value.trim()) return bad(f.bridge, 'Bridge: name the host bridge');
	return true;
}

/* The POST /api/vms body, as `vmkit create` takes it. */
function request(f) {
	const req = { name: f.name.value.trim(), memory: f.memory.value.trim(),
		cpus: Number(f.cores.value) || 1, disks: [], nets: [], onboot: f.onboot.checked, start: f.start.checked, config: {} };
	if (f.kernel.value.trim()) req.kernel = f.kernel.value.trim();
	/* Seed 000's install: firmware, a screen, the ISO on ide2 booted before the disk. */
	if (f.boot.value !== 'kernel') {
		req.config.bios = f.boot.value;
		req.config.vga = 'std';
		req.config.boot = 'order=' + [f.iso.value ? 'ide2' : null, f.nodisk.checked ? null : 'virtio0', 'net0'].filter(Boolean).join(';');
	}
	if (f.iso.value) req.config.ide2 = `${f.iso.value},media=cdrom`;
	if (f.initrd.value.trim()) req.initrd = f.initrd.value.trim();
	if (f.cmdline.value.trim()) req.cmdline = f.cmdline.value.trim();
	if (f.console.value) req.console = f.console.value;
	if (f.balloon.value.trim()) req.balloon = f.balloon.value.trim();
	if (!f.nodisk.checked) {
		let d = `size=${f.size.value.trim()},pool=${f.pool.value},format=${f.format.value},cache=${f.cache.value}`;
		if (f.discard.checked) d += ',discard=unmap';
		if (f.iothread.checked) d += ',iothread=on';
		req.disks.push(d);
	}
	const q = f.queues.value ? `,queues=${f.queues.value}` : '';
	if (f.netmode.value === 'user') req.nets.push('virtio,user');
	else if (f.netmode.value === 'network') req.nets.push(`virtio,network=${f.network.value}${q}`);
	else if (f.netmode.value === 'bridge') req.nets.push(`virtio,bridge=${f.bridge.value.trim()}${q}`);
	if (Number(f.sockets.value) > 1) req.config.sockets = String(f.sockets.value);
	if (f.cputype.value) req.config.cpu = f.cputype.value;
	if (f.desc.value) req.config.description = f.desc.value;
	return req;
}

function showSummary(table, req) {
	const rows = [['Name', req.name], ['Boot', req.config.bios || 'kernel'], ['CD/DVD (ide2)', req.config.ide2 || '-'], ['Kernel', req.kernel || '-'], ['Initrd', req.initrd || '-'], ['Command line', req.cmdline || '-'],
		['Console', req.console], ['Memory', req.memory + (req.balloon ? `, balloon ${req.balloon}` : '')],
		['Cores', req.cpus + (req.config.sockets ? ` × ${req.config.sockets} sockets` : '')], ['CPU type', req.config.cpu || 'default'],
		...req.disks.map((d, i) => [`Disk ${i}`, d]), ...req.nets.map((n, i) => [`Network ${i}`, n]),
		['Start at boot', req.onboot ? 'yes' : 'no'], ['Description', req.config.description || '-']];
	fill(table, rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', { class: 'mono' }, v))));
}
