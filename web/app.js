// The shell: login, the resource tree, the hash router and the one poll of
// GET /api/vms that feeds the lists and the graphs.
import { get, login, logout, checkSession, setUnauthorizedHandler, currentUser } from './api.js';
import { h, fill, $ } from './dom.js';
import { record, forget } from './graph.js';
import { renderTasks } from './tasks.js';
import { store } from './store.js';
import { renderNode } from './views/node.js';
import { renderVMList } from './views/vms.js';
import { renderVM } from './views/vm.js';
import { renderWizard } from './views/wizard.js';
import { renderStorage, renderPool } from './views/storage.js';
import { renderNetworks } from './views/networks.js';

const POLL_MS = 2500;

let pollTimer = null;
let view = null;

function showLogin() {
	clearTimeout(pollTimer);
	pollTimer = null;
	if (view && view.destroy) view.destroy();
	view = null;
	$('#app').hidden = true;
	$('#login').hidden = false;
	$('#login-password').value = '';
	$('#login-user').focus();
}

async function showApp(user) {
	$('#login').hidden = true;
	$('#app').hidden = false;
	$('#whoami').textContent = user;
	await poll();
	route();
	get('/api/node/status').then((n) => { $('#node-name').textContent = n.hostname; }, () => {});
}

/* The poll: records each VM's CPU and memory, then tells the views. */
async function poll() {
	clearTimeout(pollTimer);
	try {
		const vms = await get('/api/vms');
		const seen = new Set();
		for (const vm of vms) {
			seen.add(vm.name);
			const running = vm.state === 'running' || vm.state === 'paused';
			record('cpu:' + vm.name, running && vm.vcpus ? vm.cpu / vm.vcpus : null);
			record('mem:' + vm.name, running && vm.memory_mib ? vm.mem_bytes / (vm.memory_mib * 1048576) : null);
		}
		for (const old of store.vms) if (!seen.has(old.name)) forget(`cpu:${old.name}`), forget(`mem:${old.name}`);
		store.vms = vms;
		renderTreeVMs();
		for (const fn of store.listeners) fn(vms);
	} catch (e) {
		if (e.status === 401) return;	/* the login form is up */
	}
	pollTimer = setTimeout(poll, POLL_MS);
}

store.poll = () => {
	if (pollTimer !== null) poll();
};

function renderTreeVMs() {
	const cur = location.hash;
	fill($('#tree-vms'), store.vms.map((vm) =>
		h('a', { href: '#vm/' + encodeURIComponent(vm.name), class: 'tree-item vm state-' + vm.state + (cur.startsWith('#vm/' + encodeURIComponent(vm.name) + '/') || cur === '#vm/' + encodeURIComponent(vm.name) ? ' active' : ''),
			dataset: { treeVm: vm.name }, title: vm.state },
		h('span', { class: 'dot' }), vm.name, vm.template ? ' (template)' : '')));
}

async function refreshTreePools() {
	try {
		const pools = await get('/api/pools');
		fill($('#tree-pools'), pools.map((p) => h('a', { href: '#storage/' + encodeURIComponent(p.name), class: 'tree-item pool', dataset: { treePool: p.name } }, p.name)));
	} catch (e) { /* the storage page will say why */ }
}

/* #vms, #vm/NAME/TAB, #create, #storage, #storage/POOL, #networks, #tasks, #node */
function route() {
	if ($('#app').hidden) return;
	if (view && view.destroy) view.destroy();
	const parts = (location.hash.slice(1) || 'vms').split('/').map(decodeURIComponent);
	const root = $('#content');
	root.replaceChildren();
	for (const a of document.querySelectorAll('#tree .tree-item')) a.classList.toggle('active', a.getAttribute('href') === '#' + parts.slice(0, 2).map(encodeURIComponent).join('/') || a.getAttribute('href') === '#' + parts[0]);
	switch (parts[0]) {
	case 'node': view = renderNode(root); break;
	case 'vm': view = renderVM(root, parts[1], parts[2] || 'summary'); break;
	case 'create': view = renderWizard(root); break;
	case 'storage': view = parts[1] ? renderPool(root, parts[1]) : renderStorage(root); break;
	case 'networks': view = renderNetworks(root); break;
	case 'tasks': view = renderTasks(root); break;
	default: view = renderVMList(root);
	}
	renderTreeVMs();
	refreshTreePools();
}

function initLogin() {
	$('#login-form').addEventListener('submit', async (ev) => {
		ev.preventDefault();
		const err = $('#login-error');
		err.textContent = '';
		$('#login-submit').disabled = true;
		try {
			const user = await login($('#login-user').value.trim(), $('#login-password').value);
			await showApp(user);
		} catch (e) {
			err.textContent = e.message || 'authentication failure';
		} finally {
			$('#login-submit').disabled = false;
		}
	});
	$('#logout').addEventListener('click', async () => {
		await logout().catch(() => {});
		showLogin();
	});
	$('#create-vm').addEventListener('click', () => { location.hash = '#create'; });
}

async function main() {
	setUnauthorizedHandler(showLogin);
	initLogin();
	window.addEventListener('hashchange', route);
	const user = await checkSession();
	if (user) showApp(user || currentUser());
	else showLogin();
}

main();
