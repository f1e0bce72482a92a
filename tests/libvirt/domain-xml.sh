# Sourced by the libvirt tests: the test domain, as libvirt gets it.
# test_domain_xml NAME UUID VCPUS SOCKET CONSOLE APPEND METADATA [DISK]
# A type 'qemu' (TCG) domain that boots $GUEST_KERNEL with
# $workdir/initrd.gz, shared memfd memory (vhost-user needs it), one
# vhost-user interface on SOCKET (QEMU connects; none when SOCKET is -), a
# vhost-user disk on DISK when given (QEMU connects), the serial console to
# the file CONSOLE (APPEND on|off), and METADATA (XML or empty) as
# <metadata>. page_per_vq='on' on the interface: QEMU can map the VF's
# doorbell pages (host notifiers). QEMU 7.2 under TCG crashes when the vhost-user virtio-net
# device has MSI-X vectors, and loses the vhost-user-blk device's MSI-X
# interrupts now and then; libvirt cannot say vectors=0, so <qemu:override>
# does.
vectors_override() { # ALIAS
	cat <<XML
    <qemu:device alias='$1'>
      <qemu:frontend>
        <qemu:property name='vectors' type='unsigned' value='0'/>
      </qemu:frontend>
    </qemu:device>
XML
}

test_domain_xml() {
	local name=$1 uuid=$2 vcpus=$3 sock=$4 console=$5 append=$6 md=$7 disk=${8:-}
	local net_xml= disk_xml= override=
	if [ "$sock" != - ]; then
		net_xml="    <interface type='vhostuser'>
      <mac address='52:54:00:12:34:56'/>
      <source type='unix' path='$sock' mode='client'/>
      <model type='virtio'/>
      <driver page_per_vq='on'/>
      <alias name='ua-net0'/>
    </interface>"
		override="$override$(vectors_override ua-net0)"
	fi
	if [ -n "$disk" ]; then
		disk_xml="    <disk type='vhostuser' device='disk'>
      <driver name='qemu' type='raw'/>
      <source type='unix' path='$disk'/>
      <target dev='vda' bus='virtio'/>
      <alias name='ua-disk0'/>
    </disk>"
		override="$override$(vectors_override ua-disk0)"
	fi
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
${net_xml:+$net_xml
}${disk_xml:+$disk_xml
}    <serial type='file'><source path='$console' append='$append'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
  <qemu:override>
$override  </qemu:override>
</domain>
XML
}
