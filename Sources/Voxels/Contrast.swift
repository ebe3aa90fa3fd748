/// Which way protein goes in a volume's values.
///
/// TomoStore's convention: tomograms keep the contrast they were reconstructed or ingested with and
/// record it; grand models and every denoised result are density, protein `bright`.
public enum Contrast: String, Codable, Sendable, CaseIterable {
    /// Protein darker (lower values) than the solvent: phase-contrast tomograms as reconstructed.
    case dark
    /// Protein brighter than the solvent: inverted tomograms, densities (grand models, denoised output).
    case bright

    /// The other polarity.
    public var inverted: Contrast { self == .dark ? .bright : .dark }
}
