import ArgumentParser
import Catalog
import Imaging
import Voxels

extension TiltRange {
    /// The range an option's `MIN:MAX` text gives, or a one-line error naming the option.
    init(argument text: String, option: String) throws {
        guard let range = TiltRange(parsing: text) else {
            throw CommandError(
                "\(option) \(text) is not a tilt range: write MIN:MAX in degrees within -90…90 with MIN < MAX, e.g. "
                    + "\(option)=-60:60")
        }
        self = range
    }
}

extension Contrast: ExpressibleByArgument {}

/// The voxel size to use for a physical volume: `override` (from --voxel) when given, else the
/// header's x size; a header size of 1 Å or less is a placeholder (0 and 1 are what many programs
/// write when they do not know), refused with a line saying how to give the real one.
func physicalVoxelSize(header: [Double], override: Double?, what: String) throws -> Double {
    if let override {
        guard override > 0, override.isFinite else { throw CommandError("--voxel \(override) must be positive (Å)") }
        return override
    }
    let size = header.first ?? 0
    guard size > 1 else {
        throw CommandError(
            "\(what): the voxel size is \(size.formatted()) Å, a placeholder rather than a measurement; give the "
                + "real one with --voxel Å (e.g. --voxel 13.48)")
    }
    return size
}

/// The voxel size (Å) to estimate a new dataset's contrast with: `--voxel`, else the header's when it is
/// a measurement. A placeholder (≤ 1 Å) is kept with the data: it adds a warning to `notes` and gives
/// 20 Å, and the network operators refuse the dataset until `--voxel` says its size.
func estimationVoxelSize(header: [Double], override: Double?, what: String, notes: inout [String]) throws -> Double {
    if override != nil { return try physicalVoxelSize(header: header, override: override, what: what) }
    do {
        return try physicalVoxelSize(header: header, override: nil, what: what)
    } catch {
        notes.append("warning: \(error) (or later on denoise, simulate, compensate)")
        return 20
    }
}
