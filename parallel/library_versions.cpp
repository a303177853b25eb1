// MPI's version (see library_versions.h). MPI_Get_library_version and MPI_Get_version may be
// called before MPI_Init (MPI-3.1 section 8.7), so this works in a process started without mpirun.
#include "parallel/library_versions.h"

#include <mpi.h>  // defines: MPI_Get_library_version, MPI_VERSION, OMPI_MAJOR_VERSION

#include <cctype>

namespace tandem::parallel {

kernels::LibraryVersion mpi_version() {
  kernels::LibraryVersion v;
  v.name = "MPI";
#if defined(OMPI_MAJOR_VERSION)
  v.built = "Open MPI " +
            kernels::dotted(OMPI_MAJOR_VERSION, OMPI_MINOR_VERSION, OMPI_RELEASE_VERSION) + ", ";
#endif
  v.built += "MPI " + std::to_string(MPI_VERSION) + "." + std::to_string(MPI_SUBVERSION);
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int len = 0;
  if (MPI_Get_library_version(text, &len) == MPI_SUCCESS) {
    std::string s(text, size_t(len));
    s = s.substr(0, s.find('\n'));  // Open MPI appends its package and release date
    if (const auto comma = s.find(", package"); comma != std::string::npos) s.resize(comma);
    // "Open MPI v4.1.4" -> "Open MPI 4.1.4", as in the built column.
    if (const auto pos = s.find(" v"); pos != std::string::npos && pos + 2 < s.size() &&
                                       std::isdigit(static_cast<unsigned char>(s[pos + 2])))
      s.erase(pos + 1, 1);
    v.running = s;
  } else {
    v.running = "unknown";
  }
  int major = 0, minor = 0;
  if (MPI_Get_version(&major, &minor) == MPI_SUCCESS)
    v.running += ", MPI " + std::to_string(major) + "." + std::to_string(minor);
  v.location = kernels::loaded_from(&MPI_Get_library_version);
  return v;
}

}  // namespace tandem::parallel
