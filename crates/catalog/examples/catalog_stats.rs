//! Prints the catalog's size and how long the first look-up (decode) and later ones take.
//!
//! `cargo run --release -p denyctl-catalog --example catalog_stats`

use std::time::Instant;

fn main() -> Result<(), denyctl_catalog::CatalogError> {
    let start = Instant::now();
    let catalog = denyctl_catalog::catalog()?;
    let action = catalog.action("s3:getobject")?;
    let first = start.elapsed();

    let start = Instant::now();
    let again = catalog.action("kms:GenerateDataKey")?;
    let second = start.elapsed();

    let start = Instant::now();
    let scope = catalog.scope_for("s3:ListBucket", "arn:aws:s3:::b/k")?;
    let scoping = start.elapsed();

    let start = Instant::now();
    let ec2 = catalog.resource_type_for(
        "ec2:TerminateInstances",
        "arn:aws:ec2:us-east-1:111122223333:instance/i-0abc",
    )?;
    let ec2_first = start.elapsed();

    println!(
        "{} {} (updated {})",
        catalog.package(),
        catalog.version(),
        catalog.updated_at()
    );
    println!(
        "{} services, {} actions",
        catalog.services().len(),
        catalog.actions().count()
    );
    println!(
        "first look-up ({}), including decode: {first:?}",
        action.qualified_name()
    );
    println!("second look-up ({}): {second:?}", again.qualified_name());
    println!(
        "first scope_for (compiles s3's ARN formats): {scoping:?} → {:?}",
        scope.map(|s| s.arn)
    );
    println!(
        "first ec2 ARN classification (compiles all ec2 formats): {ec2_first:?} → {:?}",
        ec2.map(|t| t.name())
    );
    let embedded = include_bytes!("../data/iam-catalog.json.gz").len();
    println!("embedded data: {embedded} bytes");
    Ok(())
}
