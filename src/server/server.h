/* `k8c server`: the whole control plane in one process. This module sits above apiserver,
 * scheduler and controllers and only composes them: the API server serves the store, and the
 * embedded scheduler and controllers talk to it through the client with the admin kubeconfig,
 * exactly as their standalone commands do (they never touch the store). */
#ifndef K8C_SERVER_SERVER_H
#define K8C_SERVER_SERVER_H

/* `k8c server [--data-dir DIR] [--listen ADDR:PORT] [--store URL] [--no-agent]
 * [--disable-scheduler] [--disable-controller-manager] …`: runs until SIGINT/SIGTERM.
 * Returns the process exit code (2 usage, 1 failure). */
int server_cli_main(int argc, char **argv);

#endif
