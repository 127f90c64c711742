/* Running an nftables script through libnftables, for the tables of src/net that replace
 * themselves as a whole (cluster DNS redirect, NetworkPolicy). */
#include <nftables/libnftables.h>

#include "base/mem.h"
#include "net/internal.h"

int net__nft_run(const char *script, const char *what, struct k8c_err **err)
{
    struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!ctx)
        return k8c_err_set(err, 0, K8C_REASON_INTERNAL, "%s: cannot create nftables context", what);
    nft_ctx_buffer_output(ctx);
    nft_ctx_buffer_error(ctx);
    int rc = nft_run_cmd_from_buffer(ctx, script);
    if (rc != 0) {
        const char *e = nft_ctx_get_error_buffer(ctx);
        _cleanup_free_ char *msg = xstrndup(e ? e : "", 400);
        for (char *p = msg; *p; p++)
            if (*p == '\n')
                *p = ' ';
        k8c_err_set(err, 0, K8C_REASON_INTERNAL, "%s: nftables: %s", what, msg);
    }
    nft_ctx_free(ctx);
    return rc != 0 ? -1 : 0;
}
