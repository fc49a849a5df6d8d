//! Per-class feature selection: a params file's `featureClass: { glcm: [Autocorrelation], … }`
//! with PyRadiomics 3.1's rules (`enableFeaturesByName`, `RadiomicsFeaturesBase.execute`).
//!
//! - A class listed with no names (`null` or `[]`) computes its default features: every feature
//!   of the class but the deprecated ones, in PyRadiomics' order (its `get…FeatureValue`
//!   methods sorted by name).
//! - A class listed with names computes those, in the order given (a repeated name keeps its
//!   first place, as a Python dict does). A deprecated name is computed and keyed where
//!   PyRadiomics computes it (first order `StandardDeviation`, shape `Compactness1`,
//!   `Compactness2`, `SphericalDisproportion`, shape2D `SphericalDisproportion`); the deprecated
//!   features whose PyRadiomics method raises `DeprecationWarning` (GLCM `Dissimilarity`,
//!   `Homogeneity1`, `Homogeneity2`, `SumVariance`; GLDM `DependencePercentage`,
//!   `GrayLevelNonUniformityNormalized`) are accepted and yield no key, as in PyRadiomics.
//! - A name the class does not define is `ERR_SETTING` (PyRadiomics' parameter validation).

use crate::features::{GLCM_NAMES, GLRLM_NAMES};
use crate::firstorder::FIRSTORDER_NAMES;
use crate::gldm::GLDM_NAMES;
use crate::glszm::GLSZM_NAMES;
use crate::ngtdm::NGTDM_NAMES;
use crate::settings::FeatureClass;
use crate::shape::SHAPE_FEATURES;
use crate::shape2d::SHAPE2D_FEATURES;
use voxelkit_core::{Error, Result};

/// Deprecated features whose PyRadiomics method raises instead of returning a value.
const GLCM_NO_VALUE: [&str; 4] = [
    "Dissimilarity",
    "Homogeneity1",
    "Homogeneity2",
    "SumVariance",
];
const GLDM_NO_VALUE: [&str; 2] = ["DependencePercentage", "GrayLevelNonUniformityNormalized"];

/// The names a class computes a value for, in PyRadiomics' order, with their deprecation flag
/// (the order of the value arrays the class functions return).
pub fn computed(c: FeatureClass) -> Vec<(&'static str, bool)> {
    let plain = |n: &[&'static str]| n.iter().map(|&x| (x, false)).collect();
    match c {
        FeatureClass::Firstorder => FIRSTORDER_NAMES.to_vec(),
        FeatureClass::Shape => SHAPE_FEATURES.to_vec(),
        FeatureClass::Shape2D => SHAPE2D_FEATURES.to_vec(),
        FeatureClass::Glcm => plain(&GLCM_NAMES),
        FeatureClass::Glrlm => plain(&GLRLM_NAMES),
        FeatureClass::Glszm => plain(&GLSZM_NAMES),
        FeatureClass::Gldm => plain(&GLDM_NAMES),
        FeatureClass::Ngtdm => plain(&NGTDM_NAMES),
    }
}

fn no_value(c: FeatureClass) -> &'static [&'static str] {
    match c {
        FeatureClass::Glcm => &GLCM_NO_VALUE,
        FeatureClass::Gldm => &GLDM_NO_VALUE,
        _ => &[],
    }
}

/// Checks a class's feature list against the names PyRadiomics defines for it and drops
/// repeats (first place kept).
pub fn check(c: FeatureClass, names: &[String]) -> Result<Vec<String>> {
    let comp = computed(c);
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !comp.iter().any(|(x, _)| x == n) && !no_value(c).contains(&n.as_str()) {
            let mut all: Vec<&str> = comp.iter().map(|(x, _)| *x).collect();
            all.extend(no_value(c));
            all.sort_unstable();
            return Err(Error::setting(format!(
                "feature class {} has no feature '{n}' (PyRadiomics' names: {})",
                c.name(),
                all.join(", ")
            )));
        }
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    Ok(out)
}

/// Indices into [`computed`]`(c)` of the features to key, in output order: `names` (checked by
/// [`check`]) or, when empty, the class's non-deprecated features.
pub fn selected(c: FeatureClass, names: &[String]) -> Vec<usize> {
    let comp = computed(c);
    if names.is_empty() {
        return (0..comp.len()).filter(|&k| !comp[k].1).collect();
    }
    names
        .iter()
        .filter_map(|n| comp.iter().position(|(x, _)| x == n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use voxelkit_core::Code;

    #[test]
    fn defaults_order_and_deprecated() {
        let s = |c, n: &[&str]| {
            let n: Vec<String> = n.iter().map(|x| x.to_string()).collect();
            let n = check(c, &n).unwrap();
            let comp = computed(c);
            selected(c, &n)
                .into_iter()
                .map(|k| comp[k].0)
                .collect::<Vec<_>>()
        };
        assert_eq!(s(FeatureClass::Firstorder, &[]).len(), 18);
        assert_eq!(s(FeatureClass::Shape, &[]).len(), 14);
        assert_eq!(s(FeatureClass::Glcm, &[]).len(), 24);
        assert_eq!(
            s(
                FeatureClass::Firstorder,
                &["StandardDeviation", "Mean", "StandardDeviation"]
            ),
            ["StandardDeviation", "Mean"]
        );
        assert_eq!(
            s(
                FeatureClass::Glcm,
                &["SumVariance", "JointAverage", "Dissimilarity"]
            ),
            ["JointAverage"]
        );
        assert_eq!(
            s(FeatureClass::Gldm, &["DependencePercentage"]),
            [] as [&str; 0]
        );
        let e = check(FeatureClass::Glcm, &["Contrastt".into()]).unwrap_err();
        assert_eq!(e.code, Code::Setting);
        assert!(e.message.contains("Contrastt"));
        assert_eq!(
            check(FeatureClass::Ngtdm, &["Dissimilarity".into()])
                .unwrap_err()
                .code,
            Code::Setting
        );
    }
}
