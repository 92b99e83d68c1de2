// Orleans' packages import Orleans.Runtime everywhere (implicit usings); its SiloUnavailableException is not the gateway's.
global using SiloUnavailableException = Hoop.Gateway.SiloClient.SiloUnavailableException;
