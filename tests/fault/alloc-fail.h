/* The control block of the allocation fault shim (alloc-fail.c), one page
 * of a file shared by the test and the process it arms. */
#pragma once

#include <stdint.h>

#define ALLOC_FAULT_FILE_ENV "IFCVF_ALLOC_FAULT_FILE"

struct alloc_fault_ctl {
	_Atomic int32_t pid;        /* the process armed, 0: none */
	_Atomic uint64_t fail_at;   /* fail the call with this count; 0: never */
	_Atomic uint64_t calls;     /* counted calls since armed */
	_Atomic uint64_t failed;    /* calls failed */
};
