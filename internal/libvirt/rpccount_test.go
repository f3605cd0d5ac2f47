package libvirt_test

import (
	"testing"

	"github.com/rescue-labs/terraform-provider-rescue/internal/acctest/libvirtd"
)

// libvirt's remote protocol: procedures counted by rpcCounter (libvirtd.RPCCounter).
const (
	procDomainGetXMLDesc          = libvirtd.ProcDomainGetXMLDesc
	procDomainLookupByName        = libvirtd.ProcDomainLookupByName
	procDomainLookupByUUID        = libvirtd.ProcDomainLookupByUUID
	procDomainIsActive            = libvirtd.ProcDomainIsActive
	procDomainGetState            = libvirtd.ProcDomainGetState
	procDomainGetMetadata         = libvirtd.ProcDomainGetMetadata
	procConnectListAllDomains     = libvirtd.ProcConnectListAllDomains
	procConnectGetDomainCaps      = libvirtd.ProcConnectGetDomainCaps
	procDomainEventCallbackRegAny = libvirtd.ProcDomainEventCallbackRegAny
	procStorageVolDownload        = libvirtd.ProcStorageVolDownload
)

// rpcCounter counts the calls clients send to the daemon (libvirtd.RPCCounter).
type rpcCounter = libvirtd.RPCCounter

func newRPCCounter(t *testing.T, socket string) *rpcCounter {
	t.Helper()
	return libvirtd.NewRPCCounter(t, socket)
}
