import VMCore

extension RunReport {
    /// The result file written by `--result` (README, "Result file").
    public var json: JSON {
        var members: [(String, JSON)] = [
            ("stop_reason", .string(stopReason.kind)),
            ("stop_detail", .string(stopReason.description)),
            ("exit_status", .integer(Int64(exitStatus))),
            ("backend", .string(backend)),
            ("image", .string(imageSummary)),
        ]
        switch stopReason {
        case .debugExit(let value): members.append(("debug_exit_value", .unsigned(UInt64(value))))
        case .exitHypercall(let status): members.append(("exit_hypercall_status", .unsigned(status)))
        default: break
        }
        members.append(("console_bytes_unwritten", .integer(Int64(unwrittenConsoleBytes))))
        members.append(("hints", .array(hints.map { .string($0) })))
        var exits: [(String, JSON)] = [("total", .unsigned(statistics.totalExits))]
        for kind in ExitKind.allCases { exits.append((kind.name, .unsigned(statistics[kind]))) }
        members.append(("exits", .object(exits)))
        members.append(
            (
                "devices",
                .array(
                    devices.map { device in
                        .object([
                            ("bus", .string(device.bus)), ("device", .string(device.device)), ("range", .string(device.range)),
                            ("accesses", .unsigned(device.accesses)),
                        ])
                    })
            ))
        members.append(
            (
                "unclaimed",
                .object([
                    ("io_total", .unsigned(unclaimedPortTotal)),
                    ("io", .array(unclaimedPorts.map { .object([("port", .string(hex($0.port))), ("count", .unsigned($0.count))]) })),
                    ("mmio_total", .unsigned(unclaimedMMIOTotal)),
                    ("mmio", .array(unclaimedMMIO.map { .object([("address", .string(hex($0.address))), ("count", .unsigned($0.count))]) })),
                ])
            ))
        // KVM does not count instructions; the software backend does.
        members.append(("instructions", backend == "software" ? .unsigned(statistics.instructions) : .null))
        members.append(("tlb_refills", backend == "software" ? .unsigned(statistics.tlbRefills) : .null))
        members.append(("interrupts_delivered", backend == "software" ? .unsigned(statistics.interruptsDelivered) : .null))
        members.append(
            (
                "invalid_opcodes",
                .object([
                    ("count", .unsigned(statistics.invalidOpcodes)),
                    ("samples", .array(statistics.invalidOpcodeSamples.map { .string(hexBytes($0)) })),
                ])
            ))
        members.append(
            ("hypercalls", .array(hypercalls.map { .object([("number", .unsigned(UInt64($0.number))), ("count", .unsigned($0.count))]) })))
        members.append(
            (
                "timings_ns",
                .object([
                    ("setup", .unsigned(setupNanoseconds)),
                    ("run", .unsigned(runNanoseconds)),
                    ("in_guest", .unsigned(statistics.guestNanoseconds)),
                    ("in_vmm", .unsigned(vmmNanoseconds)),
                ])
            ))
        members.append(("post_code", postCodes.last.map { .string(hex($0, width: 2)) } ?? .null))
        members.append(("post_codes", .array(postCodes.map { .string(hex($0, width: 2)) })))
        if let registers {
            members.append(("registers", .object(registerList(registers).map { ($0.0, .string(hex($0.1, width: 16))) })))
        }
        if let system = systemRegisters {
            members.append(
                (
                    "control_registers",
                    .object([
                        ("cr0", .string(hex(system.cr0, width: 16))), ("cr2", .string(hex(system.cr2, width: 16))),
                        ("cr3", .string(hex(system.cr3, width: 16))), ("cr4", .string(hex(system.cr4, width: 16))),
                        ("efer", .string(hex(system.efer, width: 16))),
                    ])
                ))
        }
        return .object(members)
    }

    func registerList(_ r: Registers) -> [(String, UInt64)] {
        [
            ("rax", r.rax), ("rbx", r.rbx), ("rcx", r.rcx), ("rdx", r.rdx), ("rsi", r.rsi), ("rdi", r.rdi),
            ("rsp", r.rsp), ("rbp", r.rbp), ("r8", r.r8), ("r9", r.r9), ("r10", r.r10), ("r11", r.r11),
            ("r12", r.r12), ("r13", r.r13), ("r14", r.r14), ("r15", r.r15), ("rip", r.rip), ("rflags", r.rflags),
        ]
    }
}
