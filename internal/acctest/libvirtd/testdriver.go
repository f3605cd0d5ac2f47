package libvirtd

import (
	"fmt"
	"testing"

	"github.com/digitalocean/go-libvirt"
)

// TestPool is the test driver's built-in storage pool; its volumes have paths under /default-pool.
const TestPool = "default-pool"

// TestVolume creates (replacing one of the same name) a 16 MiB volume of format in the test
// driver's default-pool, backed by the raw volume at backing when that is set, removes it at the
// end of the test and returns its path.
func TestVolume(t testing.TB, l *libvirt.Libvirt, name, format, backing string) string {
	t.Helper()
	p, err := l.StoragePoolLookupByName(TestPool)
	if err != nil {
		t.Fatalf("test driver pool %s: %v", TestPool, err)
	}
	bs := ""
	if backing != "" {
		bs = fmt.Sprintf("<backingStore><path>%s</path><format type='raw'/></backingStore>", backing)
	}
	x := fmt.Sprintf("<volume><name>%s</name><capacity unit='bytes'>16777216</capacity>"+
		"<target><format type='%s'/></target>%s</volume>", name, format, bs)
	if old, err := l.StorageVolLookupByName(p, name); err == nil {
		_ = l.StorageVolDelete(old, 0)
	}
	v, err := l.StorageVolCreateXML(p, x, 0)
	if err != nil {
		t.Fatalf("create volume %s: %v", name, err)
	}
	t.Cleanup(func() { _ = l.StorageVolDelete(v, 0) })
	return "/" + TestPool + "/" + name
}

// TestDomainXML is a test driver domain on machine ("pc" or "q35") with the qcow2 root disk at
// root (vda), a data disk (vdb) and extra, raw XML inside <devices>.
func TestDomainXML(name, machine, root, extra string) string {
	return fmt.Sprintf(`<domain type='test'>
  <name>%s</name>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='%s'>hvm</type><boot dev='hd'/></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='%s'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <source file='/data/%s-data.img'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
%s
  </devices>
</domain>`, name, machine, root, name, extra)
}
