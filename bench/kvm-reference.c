// The C reference for scripts/bench: the same guests as vmm, driven by raw KVM ioctls with no
// abstraction, so the benchmark can report swift-vmm's overhead as a ratio on the same machine.
//
//   kvm-reference exits IMAGE        run IMAGE to HLT; print exits and ns per exit
//   kvm-reference create IMAGE N     N times: open /dev/kvm, build a VM with vmm's in-kernel
//                                    irqchip and PIT, run IMAGE to its debug-exit write
//   kvm-reference run IMAGE          build and run once (for whole-process timing and RSS)
//
// Guests are flat 32-bit protected-mode images loaded at 0x100000 in 64 MiB of RAM, the state
// `vmm run --mode protected` gives them.
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RAM_SIZE (64ul << 20)
#define LOAD_ADDRESS 0x100000ul

static void die(const char *what) {
    fprintf(stderr, "kvm-reference: %s: %s\n", what, strerror(errno));
    exit(1);
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static unsigned char *image;
static size_t image_size;

static void read_image(const char *path) {
    FILE *file = fopen(path, "rb");
    if (!file) die(path);
    image = malloc(RAM_SIZE);
    image_size = fread(image, 1, RAM_SIZE - LOAD_ADDRESS, file);
    fclose(file);
}

struct vm {
    int kvm, vm, vcpu;
    struct kvm_run *run;
    size_t run_size;
    void *ram;
};

static void flat_segment(struct kvm_segment *s, uint16_t selector, uint8_t type) {
    memset(s, 0, sizeof *s);
    s->selector = selector;
    s->limit = 0xffffffff;
    s->type = type;
    s->present = 1;
    s->s = 1;
    s->db = 1;
    s->g = 1;
}

// With `platform`, the in-kernel irqchip and PIT that vmm builds for every VM (then HLT stays in
// the kernel, so such a guest must end with an exit of its own: the debug-exit port).
static int platform;

static void create_vm(struct vm *v) {
    if ((v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0) die("open /dev/kvm");
    if ((v->vm = ioctl(v->kvm, KVM_CREATE_VM, 0)) < 0) die("KVM_CREATE_VM");
    v->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (v->ram == MAP_FAILED) die("mmap");
    memcpy((char *)v->ram + LOAD_ADDRESS, image, image_size);
    struct kvm_userspace_memory_region region = {.slot = 0, .guest_phys_addr = 0, .memory_size = RAM_SIZE, .userspace_addr = (uint64_t)v->ram};
    if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
    if (platform) {
        if (ioctl(v->vm, KVM_CREATE_IRQCHIP, 0) < 0) die("KVM_CREATE_IRQCHIP");
        struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
        if (ioctl(v->vm, KVM_CREATE_PIT2, &pit) < 0) die("KVM_CREATE_PIT2");
    }
    if ((v->vcpu = ioctl(v->vm, KVM_CREATE_VCPU, 0)) < 0) die("KVM_CREATE_VCPU");
    v->run_size = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
    if (v->run == MAP_FAILED) die("mmap kvm_run");
    // Like vmm, give the guest the host's CPUID table (KVM starts a vCPU with none), fetched once
    // per process because the ioctl is slow and its answer fixed.
    static struct { struct kvm_cpuid2 header; struct kvm_cpuid_entry2 entries[256]; } cpuid;
    if (cpuid.header.nent == 0) {
        cpuid.header.nent = 256;
        if (ioctl(v->kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) < 0) die("KVM_GET_SUPPORTED_CPUID");
    }
    if (ioctl(v->vcpu, KVM_SET_CPUID2, &cpuid) < 0) die("KVM_SET_CPUID2");
    struct kvm_sregs sregs;
    if (ioctl(v->vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
    flat_segment(&sregs.cs, 0x08, 0xb);
    flat_segment(&sregs.ds, 0x10, 0x3);
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    sregs.cr0 = 0x11;
    if (ioctl(v->vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
    struct kvm_regs regs = {.rip = LOAD_ADDRESS, .rsp = 0x80000, .rflags = 2};
    if (ioctl(v->vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");
}

static void destroy_vm(struct vm *v) {
    munmap(v->run, v->run_size);
    close(v->vcpu);
    close(v->vm);
    munmap(v->ram, RAM_SIZE);
    close(v->kvm);
}

// Runs to HLT (or a debug-exit write), completing exits the way a VMM minimally must; returns the number of exits.
static uint64_t run_to_halt(struct vm *v) {
    uint64_t exits = 0;
    for (;;) {
        if (ioctl(v->vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR) continue;
            die("KVM_RUN");
        }
        exits++;
        switch (v->run->exit_reason) {
        case KVM_EXIT_HLT: return exits;
        case KVM_EXIT_IO:
            if (v->run->io.direction == KVM_EXIT_IO_OUT && v->run->io.port == 0xf4) return exits;  // debug-exit
            if (v->run->io.direction == KVM_EXIT_IO_IN) memset((char *)v->run + v->run->io.data_offset, 0xff, v->run->io.size * v->run->io.count);
            break;
        case KVM_EXIT_MMIO:
            if (!v->run->mmio.is_write) memset(v->run->mmio.data, 0, sizeof v->run->mmio.data);
            break;
        default:
            fprintf(stderr, "kvm-reference: unexpected exit %u\n", v->run->exit_reason);
            exit(1);
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: kvm-reference exits|create|run IMAGE [N]\n");
        return 2;
    }
    read_image(argv[2]);
    struct vm v;
    if (!strcmp(argv[1], "exits")) {
        create_vm(&v);
        uint64_t start = now_ns();
        uint64_t exits = run_to_halt(&v);
        uint64_t elapsed = now_ns() - start;
        printf("exits=%llu ns_per_exit=%.1f\n", (unsigned long long)exits, (double)elapsed / (double)exits);
        destroy_vm(&v);
    } else if (!strcmp(argv[1], "create") && argc == 4) {
        int n = atoi(argv[3]);
        platform = 1;
        uint64_t start = now_ns();
        for (int i = 0; i < n; i++) {
            create_vm(&v);
            run_to_halt(&v);
            destroy_vm(&v);
        }
        printf("iterations=%d ns_per_vm=%.1f\n", n, (double)(now_ns() - start) / n);
    } else if (!strcmp(argv[1], "run")) {
        create_vm(&v);
        run_to_halt(&v);
    } else {
        fprintf(stderr, "kvm-reference: unknown command %s\n", argv[1]);
        return 2;
    }
    return 0;
}
