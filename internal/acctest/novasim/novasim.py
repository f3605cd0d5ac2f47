#!/usr/bin/python3
"""novasim - run OpenStack Nova's own code (Debian python3-nova, Zed) as a
local compute API endpoint on 127.0.0.1.

One process:
  * nova's functional-test base class (ProviderUsageBaseTestCase) is set up
    programmatically: in-memory sqlite API/cell0/cell1 DBs, fake:// RPC bus,
    real placement (in-process, python3-placement), GlanceFixture,
    NeutronFixture, CinderFixture, real policy;
  * nova-conductor, nova-scheduler and two nova-compute services run as
    greenthreads (fake virt drivers from novasim_driver.py);
  * the real osapi_compute paste pipeline (Debian's api-paste.ini,
    auth_strategy=noauth2) is served by nova.service.WSGIService on a real
    TCP port;
  * a minimal Glance v2 image API backed by the same GlanceFixture is served
    on a second port.

Use Debian's interpreter: /usr/bin/python3 novasim.py   (started by
internal/acctest/nova.go; copied from the team's reference kit)
Runtime files (log) go to $NOVA_STATE_DIR (default: .state/ next to this file).
"""
import argparse
import os
import signal
import sys
import time

T0 = time.time()
HERE = os.path.dirname(os.path.abspath(__file__))
STATE_DIR = os.environ.get('NOVA_STATE_DIR') or os.path.join(HERE, '.state')
sys.path.insert(0, HERE)

ap = argparse.ArgumentParser()
ap.add_argument('--host', default=os.environ.get('NOVASIM_HOST', '127.0.0.1'))
ap.add_argument('--port', type=int,
                default=int(os.environ.get('NOVASIM_PORT', '8774')))
ap.add_argument('--glance-port', type=int,
                default=int(os.environ.get('NOVASIM_GLANCE_PORT', '9292')),
                help='0 disables the glance mini API')
ap.add_argument('--log-file', default=os.environ.get(
    'NOVASIM_LOG', os.path.join(STATE_DIR, 'novasim.log')))
ap.add_argument('--debug', action='store_true',
                default=os.environ.get('NOVASIM_DEBUG') in ('1', 'true'))
ap.add_argument('--real-quotas', action='store_true',
                default=os.environ.get('NOVASIM_REAL_QUOTAS') in ('1', 'true'),
                help='keep nova default quotas (10 instances/project...)')
ap.add_argument('--stock-drivers', action='store_true',
                default=os.environ.get('NOVASIM_STOCK_DRIVERS') in ('1', 'true'),
                help='use nova.virt.fake.MediumFakeDriver/RescueBFVDriver '
                     'unchanged instead of novasim_driver.Sim*Driver')
ap.add_argument('--auth', choices=['noauth2', 'keystone'],
                default=os.environ.get('NOVASIM_AUTH', 'noauth2'))
ap.add_argument('--keystone-url', default=os.environ.get(
    'NOVASIM_KEYSTONE_URL', 'http://127.0.0.1:5000/v3'))
ap.add_argument('--max-microversion', default=os.environ.get(
    'NOVASIM_MAX_MICROVERSION', ''),
                help='cap the compute API microversion (e.g. 2.86) to act '
                     'like an older cloud')
ap.add_argument('--max-limit', type=int, default=int(os.environ.get(
    'NOVASIM_MAX_LIMIT', '0')),
                help='[api] max_limit: the largest page Nova answers (default '
                     '1000), small to make clients page')
ARGS = ap.parse_args()
os.makedirs(os.path.dirname(os.path.abspath(ARGS.log_file)), exist_ok=True)

# oslotest.BaseTestCase reads these
os.environ['OS_STDOUT_CAPTURE'] = '0'
os.environ['OS_STDERR_CAPTURE'] = '0'
os.environ['OS_LOG_CAPTURE'] = '0'
os.environ.pop('OS_TEST_TIMEOUT', None)

import nova.monkey_patch  # noqa: F401,E402  (eventlet monkey patching)

# An older cloud: cap the advertised and accepted microversion. Done before
# the API modules are imported (versions.py copies the value at import time).
if ARGS.max_microversion:
    from nova.api.openstack import api_version_request as _avr  # noqa: E402
    _avr._MAX_API_VERSION = ARGS.max_microversion
    _defs = list(_avr.is_supported.__defaults__)
    _defs[-1] = ARGS.max_microversion
    _avr.is_supported.__defaults__ = tuple(_defs)

import logging  # noqa: E402

import fixtures  # noqa: E402

from nova.tests import fixtures as nova_fixtures  # noqa: E402


# --------------------------------------------------------------------------
# Replace two test-only fixtures that would make a long running server
# behave differently from production:
#  * StandardLogging keeps every log line in memory (FakeLogger) -> log to a
#    file instead;
#  * WarningsFixture turns some warnings (e.g. invalid UUIDs) into errors
#    -> leave Python's default warning handling alone.
# --------------------------------------------------------------------------
class FileLogging(fixtures.Fixture):
    def setUp(self):
        super().setUp()
        root = logging.getLogger()
        root.setLevel(logging.DEBUG if ARGS.debug else logging.INFO)
        handler = logging.FileHandler(ARGS.log_file)
        handler.setFormatter(logging.Formatter(
            '%(asctime)s %(levelname)s [%(name)s] %(message)s'))
        root.addHandler(handler)
        self.addCleanup(root.removeHandler, handler)
        for name in ('migrate.versioning.api', 'alembic', 'oslo_db',
                     'oslo_policy', 'stevedore', 'urllib3', 'routes',
                     'oslo_messaging.rpc.client'):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.logger = None


class NoWarnings(fixtures.Fixture):
    pass


nova_fixtures.StandardLogging = FileLogging
nova_fixtures.WarningsFixture = NoWarnings

# Make novasim_driver importable as nova.virt.novasim (nova only loads
# compute drivers from the nova.virt package).
import nova.virt  # noqa: E402
import novasim_driver  # noqa: E402
sys.modules['nova.virt.novasim'] = novasim_driver
nova.virt.novasim = novasim_driver

from nova import service  # noqa: E402
from nova.tests.functional import integrated_helpers  # noqa: E402

import novasim_glance  # noqa: E402

# Image with the BFV rescue properties (hw_rescue_device/hw_rescue_bus)
RESCUE_IMAGE_ID = 'f7e0b8a4-7d2b-4c5e-9b3a-2a8f4d1c0001'
# Same but lacking them
PLAIN_IMAGE_ID = '155d900f-4e14-4e4c-a73d-069cbf4541e6'  # GlanceFixture.image1


class NovaSim(integrated_helpers.ProviderUsageBaseTestCase):
    """Nova's functional-test environment, kept running."""
    compute_driver = 'novasim.SimDriver'
    microversion = 'latest'

    def test_noop(self):
        pass

    def setUp(self):
        # needed already by OSAPIFixture inside the base class setUp
        self.flags(api_paste_config=os.path.join(HERE, 'api-paste.ini'),
                   group='wsgi')
        # Servers without an explicit AZ go to AZ "nova" (= host1); needs
        # the (deprecated but real) AvailabilityZoneFilter, enabled before
        # the scheduler starts inside the base class setUp.
        self.flags(enabled_filters=[
            'AvailabilityZoneFilter', 'ComputeFilter',
            'ComputeCapabilitiesFilter', 'ImagePropertiesFilter',
            'ServerGroupAntiAffinityFilter', 'ServerGroupAffinityFilter'],
            group='filter_scheduler')
        self.flags(default_schedule_zone='nova')
        if not ARGS.real_quotas:
            self.flags(instances=-1, cores=-1, ram=-1, group='quota')
        super().setUp()
        # ProviderUsageBaseTestCase already set up: DBs, RPC, placement,
        # glance, neutron, policy, notifications, conductor, scheduler.
        self.cinder = self.useFixture(nova_fixtures.CinderFixture(self))
        self._add_images()

        # host1: no BFV rescue (like fake.MediumFakeDriver), AZ "nova"
        self.flags(compute_driver='fake.MediumFakeDriver' if ARGS.stock_drivers
                   else 'novasim.SimDriver')
        self.compute1 = self._start_compute('host1')
        # host2: BFV rescue (like fake.RescueBFVDriver), AZ "bfv-rescue"
        self.flags(compute_driver='fake.RescueBFVDriver' if ARGS.stock_drivers
                   else 'novasim.SimBFVDriver')
        self.compute2 = self._start_compute('host2')
        agg = self.admin_api.post_aggregate({'aggregate': {
            'name': 'bfv-rescue', 'availability_zone': 'bfv-rescue'}})
        self.admin_api.add_host_to_aggregate(agg['id'], 'host2')

        # Report what the computes told placement (COMPUTE_RESCUE_BFV...)
        self.traits = {}
        for host in ('host1', 'host2'):
            rp = self._get_provider_uuid_by_host(host)
            self.traits[host] = sorted(
                t for t in self._get_provider_traits(rp)
                if 'RESCUE' in t or t.startswith('COMPUTE_VOLUME'))
            logging.getLogger('novasim').info(
                'compute %s (driver %s) rp %s traits %s', host,
                type(self.computes[host].manager.driver).__name__, rp,
                self.traits[host])

        # The real API server.
        self.flags(auth_strategy=ARGS.auth, group='api')
        self.flags(api_paste_config=os.path.join(HERE, 'api-paste.ini'),
                   group='wsgi')
        self.flags(keep_alive=True, group='wsgi')
        if ARGS.max_limit:
            self.flags(max_limit=ARGS.max_limit, group='api')
        self.flags(osapi_compute_listen=ARGS.host,
                   osapi_compute_listen_port=ARGS.port,
                   osapi_compute_workers=1)
        if ARGS.auth == 'keystone':
            self._setup_keystone_auth()
        self.wsgi = service.WSGIService('osapi_compute')
        self.wsgi.start()
        self.addCleanup(self.wsgi.stop)

        if ARGS.glance_port:
            from nova import wsgi as nova_wsgi
            url = 'http://%s:%d' % (ARGS.host, ARGS.glance_port)
            self.glance_server = nova_wsgi.Server(
                'novasim_glance', novasim_glance.GlanceApp(self.glance, url),
                host=ARGS.host, port=ARGS.glance_port)
            self.glance_server.start()
            self.addCleanup(self.glance_server.stop)

    def _setup_keystone_auth(self):
        """Use the real keystonemiddleware + NovaKeystoneContext against a
        real Keystone (see keystone_*.sh)."""
        from keystoneauth1 import loading as ks_loading
        import keystonemiddleware.auth_token as kat
        from keystonemiddleware.auth_token import _opts as kat_opts
        import nova.api.auth as nauth
        # undo OSAPIFixture._stub_keystone (its cleanups never run here)
        kat.filter_factory = _ORIG_KAT_FILTER_FACTORY
        nauth.NovaKeystoneContext._create_context = _ORIG_CREATE_CONTEXT
        conf = nova.conf.CONF
        group = 'keystone_authtoken'
        conf.register_opts(kat_opts._OPTS, group=group)
        ks_loading.register_auth_conf_options(conf, group)
        conf.register_opts(
            ks_loading.get_auth_plugin_conf_options('password'), group=group)
        kurl = ARGS.keystone_url
        self.flags(auth_type='password', auth_url=kurl,
                   www_authenticate_uri=kurl, username='nova',
                   password='nova', project_name='service',
                   user_domain_name='Default', project_domain_name='Default',
                   group=group)

    def _add_images(self):
        base = dict(nova_fixtures.GlanceFixture.image1)
        img = dict(base, id=RESCUE_IMAGE_ID, name='rescue-cdrom-scsi',
                   properties=dict(base['properties'],
                                   hw_rescue_device='cdrom',
                                   hw_rescue_bus='scsi'))
        self.glance.create(None, img)


# originals, saved before OSAPIFixture stubs them (used for --auth keystone)
import keystonemiddleware.auth_token  # noqa: E402
import nova.api.auth  # noqa: E402
import nova.conf  # noqa: E402
_ORIG_KAT_FILTER_FACTORY = keystonemiddleware.auth_token.filter_factory
_ORIG_CREATE_CONTEXT = nova.api.auth.NovaKeystoneContext.__dict__['_create_context']


def main():
    if ARGS.max_microversion:
        from nova.api.openstack.compute import versions
        versions.VERSIONS['v2.1']['version'] = ARGS.max_microversion
    tc = NovaSim('test_noop')
    tc.setUp()
    t_ready = time.time() - T0
    # Something in the stack (oslo.log setup) also logs to stderr; keep the
    # log file only unless NOVASIM_LOG_STDERR=1.
    if os.environ.get('NOVASIM_LOG_STDERR') not in ('1', 'true'):
        root = logging.getLogger()
        for h in list(root.handlers):
            if type(h) is not logging.FileHandler and \
                    getattr(h, 'stream', None) in (sys.stderr, sys.stdout):
                root.removeHandler(h)

    import eventlet

    def _stop(signum, frame):
        logging.getLogger('novasim').info('signal %s, cleaning up', signum)
        try:
            tc.doCleanups()
        finally:
            os._exit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sys.stdout.write(
        'novasim READY in %.1fs: compute http://%s:%d/v2.1  '
        'image http://%s:%d  (pid %d, log %s, max microversion %s)\n' % (
            t_ready, ARGS.host, tc.wsgi.port, ARGS.host, ARGS.glance_port,
            os.getpid(), ARGS.log_file,
            ARGS.max_microversion or 'default'))
    for host, traits in sorted(tc.traits.items()):
        sys.stdout.write('  %s driver=%s traits(subset)=%s\n' % (
            host, type(tc.computes[host].manager.driver).__name__, traits))
    sys.stdout.flush()
    while True:
        eventlet.sleep(3600)


if __name__ == '__main__':
    main()
