"""The data disk's first-boot script: format it (once) and mount it at /data.

On AWS the root volume keeps the image's size and the requested `diskSizeGB` is a separate gp3
volume. Nitro instances expose EBS volumes as NVMe devices in no fixed order, beside any local
instance-store NVMe disks, so the script picks the EBS disk ("Amazon Elastic Block Store") that
is not the root's, formats it only when it holds no filesystem, and mounts it by UUID with
`nofail` so a reboot never hangs on it. Nothing user-supplied reaches the script.
"""

from __future__ import annotations

from stacks.spec import DATA_MOUNT

AWS_DATA_DEVICE = "/dev/sdf"  # the mapping's name; the OS sees an NVMe device


def data_disk_script() -> str:
    return f"""
# provisioner: the data disk at {DATA_MOUNT} (see stacks/disks.py)
root_disk=$(lsblk -no PKNAME "$(findmnt -no SOURCE /)" 2>/dev/null)
for i in $(seq 1 60); do
  data_disk=$(lsblk -dpno NAME,MODEL | awk '/Elastic Block Store/ {{print $1}}' \\
    | grep -v "/dev/$root_disk\\$" | head -n 1)
  [ -n "$data_disk" ] && break
  sleep 2
done
if [ -n "$data_disk" ]; then
  blkid "$data_disk" >/dev/null 2>&1 || mkfs.ext4 -q -L provisioner-data "$data_disk"
  mkdir -p {DATA_MOUNT}
  uuid=$(blkid -s UUID -o value "$data_disk")
  grep -q "$uuid" /etc/fstab || \\
    echo "UUID=$uuid {DATA_MOUNT} ext4 defaults,nofail 0 2" >> /etc/fstab
  mount {DATA_MOUNT} && chmod 1777 {DATA_MOUNT}
fi
"""
