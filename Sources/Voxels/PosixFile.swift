#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An error from the operating system while reading or writing a file.
public struct FileError: TomoStoreError {
    /// The file concerned.
    public let path: String
    /// What was being done ("open", "read", "write", …).
    public let operation: String
    /// The OS's explanation (strerror).
    public let reason: String

    public init(path: String, operation: String, errno code: Int32) {
        self.path = path
        self.operation = operation
        reason = String(cString: strerror(code))
    }

    public init(path: String, operation: String, reason: String) {
        self.path = path
        self.operation = operation
        self.reason = reason
    }

    public var description: String { "\(path): cannot \(operation): \(reason)" }
}

/// An open file descriptor with positional (thread-safe) reads and writes of any size; closed on deinit.
public final class PosixFile: @unchecked Sendable {
    // @unchecked: wraps a file descriptor, used only with positional pread/pwrite (no shared offset).
    /// The path the file was opened with.
    public let path: String
    private let fd: Int32

    /// Opens an existing file for reading.
    public init(readingFrom path: String) throws {
        self.path = path
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw FileError(path: path, operation: "open", errno: errno) }
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) != S_IFREG {
            close(fd)
            let what =
                (st.st_mode & S_IFMT) == S_IFDIR ? "a directory" : "not a regular file (a FIFO, socket or device)"
            throw FileError(path: path, operation: "read", reason: "it is \(what); give a file")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
    }

    /// Creates (or truncates) a file for writing, with mode 0644.
    public init(creating path: String) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(path: path, operation: "create", errno: errno) }
    }

    deinit { close(fd) }

    /// Size of the file in bytes.
    public func size() throws -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileError(path: path, operation: "stat", errno: errno) }
        return Int(st.st_size)
    }

    /// Reads exactly `count` bytes at `offset` into `buffer`; throws if the file ends first.
    public func read(into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int) throws {
        var done = 0
        while done < count {
            let n = pread(fd, buffer + done, count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, operation: "read", errno: errno)
            }
            if n == 0 {
                throw FileError(
                    path: path, operation: "read",
                    reason:
                        "file ends at byte \(offset + done), \(count - done) bytes short of what was expected "
                        + "(truncated or changed while reading)"
                )
            }
            done += n
        }
    }

    /// Reads exactly `count` bytes at `offset` as an array.
    public func read(count: Int, at offset: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { try read(into: $0.baseAddress!, count: count, at: offset) }
        return out
    }

    /// Writes all of `buffer` at `offset`.
    public func write(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < buffer.count {
            let n = pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, operation: "write", errno: errno)
            }
            done += n
        }
    }

    /// Flushes written data to the disk.
    public func sync() throws {
        guard fsync(fd) == 0 else { throw FileError(path: path, operation: "sync", errno: errno) }
    }

    /// Checks that `path` may be written by replacing it: it is new or a regular file (not a
    /// directory, device, FIFO, socket or symbolic link, which a rename would replace by a file), and it
    /// is not inside a store (a directory holding `data.mdb`), whose files a write would destroy.
    /// - Throws: `FileError` saying which, and what to do.
    public static func checkOutput(_ path: String) throws {
        var st = stat()
        if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) != S_IFREG {
            throw FileError(
                path: path, operation: "write",
                reason: "it exists and is not a regular file (a directory, device, FIFO or link); choose a new path")
        }
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        if access((directory.isEmpty ? "/" : directory) + "/data.mdb", F_OK) == 0 {
            throw FileError(
                path: path, operation: "write",
                reason: "it is inside the store \(directory); write the output outside the store")
        }
    }

    /// The temporary file an output to `path` is written to before its atomic rename: `.NAME.partial-PID`
    /// beside it. Leftovers of earlier writers to the same path that were killed (their process is
    /// gone) are removed first, so an interrupted write never leaves its temporary file for good.
    public static func temporaryPath(for path: String) -> String {
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let base = path.split(separator: "/").last.map(String.init) ?? path
        let prefix = ".\(base).partial-"
        if let dir = opendir(directory.isEmpty ? "/" : directory) {
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) {
                    String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
                }
                guard name.hasPrefix(prefix), let pid = Int32(name.dropFirst(prefix.count)), pid != getpid() else {
                    continue
                }
                if kill(pid, 0) != 0 && errno == ESRCH { removeIfPresent("\(directory)/\(name)") }
            }
        }
        return "\(directory)/\(prefix)\(getpid())"
    }

    /// Atomically renames a file (same filesystem), after `checkOutput(to)`.
    public static func rename(_ from: String, to: String) throws {
        try checkOutput(to)
        guard Glibc.rename(from, to) == 0 else {
            throw FileError(path: to, operation: "rename \(from) to", errno: errno)
        }
    }

    /// Removes a file, ignoring errors (used to clean up partial output).
    public static func removeIfPresent(_ path: String) {
        _ = unlink(path)
    }
}
