; basic_stub.s: the PRG header: load address and the BASIC line `10 SYS 2061`.
; Execution continues at `stub_entry` ($080D), which jumps to `main` (exported
; by the program that is linked with the engine: the chat program or a test
; driver).

        .import main
        .export stub_entry

        .segment "LOADADDR"
        .word   $0801

        .segment "EXEHDR"
        .word   next_line               ; link to the next BASIC line
        .word   10                      ; line number
        .byte   $9e, "2061", 0          ; SYS 2061
next_line:
        .word   0                       ; end of BASIC program
stub_entry:
        .assert stub_entry = 2061, error, "SYS address in the BASIC stub is wrong"
        jmp     main
