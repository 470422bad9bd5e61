/* The C hello-world of the bench's `process` section: what a process costs at all. */
#include <stdio.h>

int main(void)
{
	return puts("hello, world") < 0;
}
