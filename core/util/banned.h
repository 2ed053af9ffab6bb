/* Functions we never call (git's banned.h): include last in .c files. */
#ifndef WO_UTIL_BANNED_H
#define WO_UTIL_BANNED_H

#define BANNED(func) sorry_##func##_is_banned_in_webops
#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef gets
#define gets(x) BANNED(gets)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncat
#define strncat(x, y, n) BANNED(strncat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)

#endif
