#include <openssl/sha.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
