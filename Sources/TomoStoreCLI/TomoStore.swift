import ArgumentParser
import Foundation
import Operators
import Voxels

/// The `tomostore` command: a chunked, compressed volume store for cryo-electron tomography.
@main
struct TomoStore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tomostore",
        abstract: "A chunked, compressed volume store for cryo-electron tomography, with its own processing engine.",
        discussion: """
            Reads and writes MRC2014 exactly (every mode, byte order and axis order).

            Examples:
              tomostore demo                      # write, read back and convert a small volume
              tomostore inspect tomo.mrc --json   # header and data statistics as JSON
              tomostore convert in.mrc out.mrc --mode 2
            """,
        version: TomoStoreVersion.string,
        subcommands: [
            Demo.self, Init.self, IngestCommand.self, List.self, Info.self, Get.self, ExportCommand.self, Remove.self,
            Verify.self, Inspect.self, Convert.self, Preview.self, ExportZarr.self, ImportZarr.self,
            PyramidCommand.self, Synth.self, Particles.self, Train.self, TrainCompensate.self, Models.self,
            Denoise.self, Simulate.self, Compensate.self, SegmentCommand.self, CorpusCommand.self, Derive.self,
            Materialize.self,
            GarbageCollect.self, Filter.self, Eval.self, PickCommand.self, Bench.self, EngineCommand.self,
            ServeCommand.self, SlurmCommand.self, Version.self,
        ]
    )

    /// Runs the command; errors become one line on stderr and exit status 1 (usage errors: 64).
    static func main() {
        tuneAllocator()
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            // --help and --version print as the argument parser does; a usage error (an unknown option,
            // a bad value, a failed validate()) is one line on stderr and exit status 64.
            let code = exitCode(for: error)
            guard code == .validationFailure, !message(for: error).isEmpty else { exit(withError: error) }
            FileHandle.standardError.write(
                Data("tomostore: error: \(message(for: error)) (see --help)\n".utf8))
            Foundation.exit(code.rawValue)
        }
        do {
            try command.run()
        } catch let error as CleanExit {
            exit(withError: error)
        } catch let error as ExitCode {
            exit(withError: error)
        } catch let error as ValidationError {
            exit(withError: error)
        } catch let error as any TomoStoreError {
            Self.fail(error.description)
        } catch {
            // Help requested by a command group's default run(): the argument parser prints it.
            if exitCode(for: error) == .success { exit(withError: error) }
            // System and Foundation errors (files, JSON) that no layer wrapped: still one line.
            Self.fail("\(error)")
        }
    }

    /// Keeps freed buffers (chunks, tensors, tiles) in the heap for reuse instead of returning them
    /// to the OS: glibc serves large allocations with fresh mmaps whose pages the kernel zeroes and
    /// faults in one by one on every use, which cost up to half the time of a filter pass here. Only
    /// buffers of 32 MiB and more (whole bands and volumes, allocated a few times per pass) are
    /// mmapped (M_MMAP_THRESHOLD), so they go back to the OS when freed instead of fragmenting the
    /// heap: with no mmap at all, a 1 GiB denoise grew the heap to 2.4× the bytes in use. The heap
    /// is trimmed only above 1 GiB (M_TRIM_THRESHOLD).
    private static func tuneAllocator() {
        // glibc's mallopt (declared in malloc.h, which Swift's Glibc module does not export).
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let (trimThreshold, mmapThreshold): (Int32, Int32) = (-1, -3)  // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
        _ = mallopt(mmapThreshold, 32 << 20)
        _ = mallopt(trimThreshold, 1 << 30)
    }

    /// Prints `tomostore: error: message` on stderr and exits with status 1.
    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("tomostore: error: \(message)\n".utf8))
        Foundation.exit(1)
    }
}

/// A problem found by a command itself (as opposed to a module), shown as one line.
struct CommandError: TomoStoreError {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Writes a line to stderr (progress, warnings); `terminator` "" for a progress line redrawn with \r.
func printError(_ line: String, terminator: String = "\n") {
    FileHandle.standardError.write(Data((line + terminator).utf8))
}

/// Encodes a value as pretty, key-sorted JSON text.
func jsonText<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    // Non-finite numbers (NaN/Inf header fields or voxels) as the catalog writes them: "nan", "inf", "-inf".
    encoder.nonConformingFloatEncodingStrategy = .convertToString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
