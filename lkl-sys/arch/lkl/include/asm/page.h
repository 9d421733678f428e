/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_PAGE_H
#define _ASM_LKL_PAGE_H

#include <linux/const.h>

#define PAGE_SHIFT	CONFIG_PAGE_SHIFT
#define PAGE_SIZE	(_AC(1, UL) << PAGE_SHIFT)
#define PAGE_MASK	(~(PAGE_SIZE - 1))

/*
 * Kernel RAM is one host allocation at memory_start. Its "physical"
 * addresses start at LKL_PHYS_BASE, low and constant, so the page map
 * does not begin with a hole the size of the host's address space. The
 * host's device models see these physical addresses.
 */
#define LKL_PHYS_BASE		_AC(0x1000000, UL)

#ifndef __ASSEMBLY__

#include <linux/types.h>

extern unsigned long memory_start;
extern unsigned long memory_end;

typedef struct { unsigned long pte; } pte_t;
typedef struct { unsigned long pgd; } pgd_t;
typedef struct { unsigned long pgprot; } pgprot_t;
typedef struct page *pgtable_t;

#define pte_val(x)	((x).pte)
#define pgd_val(x)	((x).pgd)
#define pgprot_val(x)	((x).pgprot)

#define __pte(x)	((pte_t) { (x) })
#define __pgd(x)	((pgd_t) { (x) })
#define __pgprot(x)	((pgprot_t) { (x) })

#define clear_page(page)	memset((page), 0, PAGE_SIZE)
#define copy_page(to, from)	memcpy((to), (from), PAGE_SIZE)
#define clear_user_page(page, vaddr, pg)	clear_page(page)
#define copy_user_page(to, from, vaddr, pg)	copy_page(to, from)

#define PAGE_OFFSET		(memory_start)
#define ARCH_PFN_OFFSET		(LKL_PHYS_BASE >> PAGE_SHIFT)

#define __pa(x)	((unsigned long)(x) - memory_start + LKL_PHYS_BASE)
#define __va(x)	((void *)((unsigned long)(x) - LKL_PHYS_BASE + memory_start))

#define virt_to_pfn(kaddr)	(__pa(kaddr) >> PAGE_SHIFT)
#define pfn_to_virt(pfn)	__va((unsigned long)(pfn) << PAGE_SHIFT)

#define virt_to_page(addr)	pfn_to_page(virt_to_pfn(addr))
#define page_to_virt(page)	pfn_to_virt(page_to_pfn(page))

#define virt_addr_valid(kaddr)	\
	((unsigned long)(kaddr) >= memory_start && \
	 (unsigned long)(kaddr) < memory_end)


#include <asm-generic/memory_model.h>
#include <asm-generic/getorder.h>

#define page_to_phys(page)	((phys_addr_t)page_to_pfn(page) << PAGE_SHIFT)

#endif /* !__ASSEMBLY__ */

#endif /* _ASM_LKL_PAGE_H */
