/* A libvirt.so.0 that is not libvirt: the first two functions the helper
 * looks up (libvirt-dl.h) and none of the others. LD_LIBRARY_PATH to this
 * directory makes `run --libvirt-uri` find it instead of the real one; the
 * helper must refuse to start, naming the library and the function it
 * lacks. Nothing here is ever called. */
int virInitialize(void);
int virEventRegisterDefaultImpl(void);

int virInitialize(void)
{
	return -1;
}

int virEventRegisterDefaultImpl(void)
{
	return -1;
}
