/* Fuzz target: config.json -> struct runtime_spec (src/runtime/spec.c), the runtime's one
 * parser of outside input. Any input either parses or fails with a one-line error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "runtime/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct k8c_err *err = NULL;
    struct runtime_spec *s = runtime_spec_parse((const char *)data, size, "/bundle", &err);
    if (s == NULL) {
        K8C_ASSERT(err != NULL && err->msg != NULL);
        K8C_ASSERT(strchr(err->msg, '\n') == NULL);
        k8c_err_free(err);
        return 0;
    }
    K8C_ASSERT(err == NULL);
    K8C_ASSERT(s->args != NULL && s->args[0] != NULL && s->root_path != NULL);
    K8C_ASSERT(s->ns[RUNTIME_NS_MOUNT].wanted);
    runtime_spec_free(s);
    return 0;
}
