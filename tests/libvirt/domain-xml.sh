# Sourced by the libvirt tests: the test domain, as libvirt gets it.
# test_domain_xml NAME UUID VCPUS SOCKET CONSOLE APPEND METADATA
# A type 'qemu' (TCG) domain that boots $GUEST_KERNEL with
# $workdir/initrd.gz, shared memfd memory (vhost-user needs it), one
# vhost-user interface on SOCKET (QEMU connects), the serial console to the
# file CONSOLE (APPEND on|off), and METADATA (XML or empty) as <metadata>.
# page_per_vq='on': QEMU can map the VF's doorbell pages (host notifiers).
# QEMU 7.2 under TCG crashes when the vhost-user virtio-net device has MSI-X
# vectors; libvirt cannot say vectors=0, so <qemu:override> does.
test_domain_xml() {
	local name=$1 uuid=$2 vcpus=$3 sock=$4 console=$5 append=$6 md=$7
	cat <<XML
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$name</name>
  <uuid>$uuid</uuid>
  <memory unit='MiB'>256</memory>
  <vcpu>$vcpus</vcpu>
${md:+  <metadata>
$md
  </metadata>}
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$GUEST_KERNEL</kernel>
    <initrd>$workdir/initrd.gz</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <features><acpi/></features>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <interface type='vhostuser'>
      <mac address='52:54:00:12:34:56'/>
      <source type='unix' path='$sock' mode='client'/>
      <model type='virtio'/>
      <driver page_per_vq='on'/>
      <alias name='ua-net0'/>
    </interface>
    <serial type='file'><source path='$console' append='$append'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
  <qemu:override>
    <qemu:device alias='ua-net0'>
      <qemu:frontend>
        <qemu:property name='vectors' type='unsigned' value='0'/>
      </qemu:frontend>
    </qemu:device>
  </qemu:override>
</domain>
XML
}
