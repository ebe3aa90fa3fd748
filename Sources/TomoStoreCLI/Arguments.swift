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

extension ParticlePicker.Polarity: ExpressibleByArgument {}
