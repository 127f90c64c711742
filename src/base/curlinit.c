/* See curlinit.h. */
#include "base/curlinit.h"

#include <curl/curl.h>
#include <libssh2.h>
#include <pthread.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
    /* Debian's libcurl links libssh2, whose libssh2_init (called by curl_global_init)
     * initialises OpenSSL's libcrypto, engines and all: ~1.5 MiB more resident in every k8c
     * process, for SCP/SFTP, which k8c never uses (its handles allow only http and https).
     * Initialised first here without crypto, libssh2 counts curl's call as a second one and
     * leaves libcrypto untouched. */
    libssh2_init(LIBSSH2_INIT_NO_CRYPTO);
    curl_global_init(CURL_GLOBAL_ALL);
}

void curl_init_process(void)
{
    pthread_once(&once, init_once);
}
