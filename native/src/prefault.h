#pragma once
// Touches a block of the main heap from a helper thread, once per process (see prefault.c).
void prefault_heap(void);
