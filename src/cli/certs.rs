//! `foundation certs`: a new private cluster CA and node certificates for
//! mutual TLS (every node of a cluster needs a certificate from the same CA,
//! so make them together).

use std::path::PathBuf;

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

/// Arguments of `foundation certs`.
#[derive(Debug, clap::Args)]
pub(crate) struct CertsArgs {
    /// Where to write `ca.pem`, `ca-key.pem`, `<node>.pem` and `<node>-key.pem`.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Node names to make certificates for; repeatable.
    #[arg(long = "node", required = true)]
    pub(crate) nodes: Vec<String>,
}

pub(crate) fn run(args: CertsArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let (ca_cert_path, ca_key_path) = (args.out.join("ca.pem"), args.out.join("ca-key.pem"));
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Foundation cluster CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).context("signing the CA")?;
    write(&ca_cert_path, &ca_cert.pem())?;
    write(&ca_key_path, &ca_key.serialize_pem())?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    for node in &args.nodes {
        let key = KeyPair::generate().context("generating a node key")?;
        let names = vec![actor_cluster::TLS_SERVER_NAME.to_owned(), node.clone()];
        let mut params = CertificateParams::new(names).context("node parameters")?;
        params
            .distinguished_name
            .push(DnType::CommonName, node.clone());
        let cert = params
            .signed_by(&key, &issuer)
            .context("signing a node certificate")?;
        write(&args.out.join(format!("{node}.pem")), &cert.pem())?;
        write(
            &args.out.join(format!("{node}-key.pem")),
            &key.serialize_pem(),
        )?;
    }
    let dir = args.out.display();
    println!(
        "Wrote the CA and {} node certificate(s) to {dir}.\nStart each node with --tls-cert {dir}/<node>.pem --tls-key {dir}/<node>-key.pem --tls-ca {dir}/ca.pem",
        args.nodes.len()
    );
    Ok(())
}

fn write(path: &std::path::Path, pem: &str) -> anyhow::Result<()> {
    std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))
}
