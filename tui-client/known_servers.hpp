// The servers whose keys the user chose to trust (trust on first use, like
// ssh's known_hosts), and the SHA-256 key fingerprints they are kept by.
//
// The file ($XDG_DATA_HOME/sockchat/known_servers, else
// ~/.local/share/sockchat/known_servers) holds one server per line:
//   HOST:PORT SHA256:BASE64
// HOST as given to the client, in lower case, an IPv6 literal in brackets;
// BASE64 the unpadded SHA-256 of the server's SubjectPublicKeyInfo (the
// key, not the certificate, so a renewed certificate for the same key still
// matches).  Blank lines and lines starting with '#' are ignored; other
// lines that do not parse are skipped and counted.  Pure except for the
// file functions at the end; no OpenSSL, so tests/tui tests it as is.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sc::tui {

using Fingerprint = std::array<std::uint8_t, 32>;

// "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU" (ssh's form).
std::string format_fingerprint(const Fingerprint& fp);
// Accepts what format_fingerprint() writes, curl's "sha256//BASE64", and 64
// hex digits (colons allowed), as `openssl x509 -fingerprint` does not
// print but `openssl dgst -sha256` does.  False on anything else.
bool parse_fingerprint(std::string_view text, Fingerprint& out);

// "localhost:2556", "[::1]:2556": the key a server is remembered by.
std::string server_key(std::string_view host, std::string_view port);

struct KnownServer {
  std::string server;  // server_key()
  Fingerprint fingerprint{};
  int line = 0;        // 1-based, for "remove line N"
};

struct KnownServers {
  std::vector<KnownServer> entries;
  std::vector<int> malformed;  // line numbers of lines that did not parse
};

KnownServers parse_known_servers(std::string_view text);

struct KnownMatch {
  enum class What : std::uint8_t { Unknown, Same, Changed } what = What::Unknown;
  int line = 0;  // Same, Changed: the line that names the server
};
// The first line naming `server` decides.
KnownMatch match_known_server(const KnownServers& known, const std::string& server, const Fingerprint& fp);

// The line append_known_server() writes, without the newline.
std::string known_server_line(const std::string& server, const Fingerprint& fp);

// Files.  The default path; empty when neither XDG_DATA_HOME nor HOME is set.
std::string known_servers_path();
// Reads the file; a missing file is an empty store.  False with `why` when
// it exists but cannot be read.
bool load_known_servers(const std::string& path, KnownServers& out, std::string& why);
// Appends one line, making the directory (0700) and the file (0600) when
// missing.  Returns the new line's number, or 0 with `why`.
int append_known_server(const std::string& path, const std::string& server, const Fingerprint& fp,
                        std::string& why);

}  // namespace sc::tui
