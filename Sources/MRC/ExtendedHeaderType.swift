/// Names the type of an extended header whose exttyp field is blank, so that a rewritten file
/// declares it as MRC2014 requires.
public enum ExtendedHeaderType {
    /// The header's exttyp when set; otherwise "CCP4" for crystallographic space groups (symmetry
    /// records), "AGAR" when nint/nreal count 4-byte numbers per section that fill the extended
    /// header exactly, "SERI" when nint/nreal are set otherwise (SerialEM), and "" when unknown.
    public static func infer(_ h: MRCHeader) -> String {
        if !h.exttyp.isEmpty { return h.exttyp }
        if (1...230).contains(h.ispg) { return "CCP4" }
        if h.nint != 0 || h.nreal != 0 {
            let perSection = 4 * (Int(h.nint) + Int(h.nreal))
            return perSection > 0 && Int(h.nsymbt) == perSection * Int(h.nz) ? "AGAR" : "SERI"
        }
        return ""
    }
}
