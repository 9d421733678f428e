/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_DELAY_H
#define _ASM_LKL_DELAY_H

/* Busy waits on the host clock: no calibration loop at boot. */
void lkl_ndelay(unsigned long nsecs);

#define ndelay(n)	lkl_ndelay(n)
#define udelay(n)	lkl_ndelay((unsigned long)(n) * 1000UL)
#define __delay(loops)	lkl_ndelay(loops)

#endif
