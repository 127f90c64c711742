/* libcurl's process-wide initialisation, shared by every module that uses libcurl (the
 * client, the etcd store, the image registry client). */
#ifndef K8C_BASE_CURLINIT_H
#define K8C_BASE_CURLINIT_H

/* Initialises libcurl once per process (thread-safe); call it before curl_easy_init. The
 * handles of k8c then allow only http and https (CURLOPT_PROTOCOLS_STR). */
void curl_init_process(void);

#endif
