/* Tiny 16-bit boot sector used as a "guest OS" for the rescue tests.
 * - prints MSG to the QEMU debugcon port 0x402 (captured by isa-debugcon, see domain XML)
 * - enables the ACPI power-button event (PM1_EN bit 8, PM base 0x600 as programmed by SeaBIOS ("Moving pm_base to 0x600")
 *   on both i440fx/PIIX4 and q35/ICH9) and polls PM1_STS
 * - on power button (virDomainShutdown with ACPI) prints a line and enters S5 via
 *   PM1_CNT = SLP_EN|SLP_TYP(0) -> QEMU powers off -> libvirt sees "shutoff (shutdown)".
 * - between polls it halts until the next interrupt (the BIOS timer), so an idle guest costs
 *   almost no host CPU.
 * Built by internal/acctest/libvirtd (images.go), which replaces MSGTEXT by a quoted string first:
 *   as --32 -o x.o x.S && ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o x.bin x.o
 * With `as --defsym NOACPI=1` the guest prints its boot line and a note, then halts with
 * interrupts off and never reacts to the power button (a guest that ignores ACPI shutdown).
 */
.code16
.globl _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7c00, %sp
    mov $msg, %si
    call print
.ifdef NOACPI
    mov $msg3, %si
    call print
    jmp halt
.endif
    mov $0x602, %dx        /* PM1_EN */
    mov $0x0100, %ax        /* PWRBTN_EN */
    outw %ax, %dx
wait_btn:
    sti                     /* sleep until the next interrupt (BIOS timer tick, 18.2 Hz): */
    hlt                     /* a busy loop would keep a host CPU at 100% under TCG */
    mov $0x600, %dx        /* PM1_STS */
    inw %dx, %ax
    test $0x0100, %ax       /* PWRBTN_STS */
    jz wait_btn
    mov $msg2, %si
    call print
    mov $0x604, %dx        /* PM1_CNT */
    mov $0x2000, %ax        /* SLP_EN, SLP_TYP=0 -> S5 on QEMU */
    outw %ax, %dx
halt:
    cli
    hlt
    jmp halt
print:
    mov $0x402, %dx
1:  lodsb
    test %al, %al
    jz 2f
    outb %al, %dx
    jmp 1b
2:  ret
msg2:
    .asciz "GUEST: ACPI power button seen, entering S5\n"
.ifdef NOACPI
msg3:
    .asciz "GUEST: ignoring the ACPI power button\n"
.endif
msg:
    .ascii "\nGUEST: BOOTED FROM "
    .ascii MSGTEXT
    .asciz "\n"
    .org 510
    .word 0xaa55
