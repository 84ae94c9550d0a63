// linux/virtio_net.h for C++: its struct virtio_net_ctrl_hdr has a member named `class`, a C++
// keyword, so the header is included with that name renamed (the struct is not used here).
#pragma once

#define class class_
#include <linux/virtio_net.h>
#undef class
